"""Packaging metadata: the [keras] extra on every platform, py.typed, links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


PLATFORMS = {
    "linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "windows": {"sys_platform": "win32", "platform_machine": "x86_64"},
    "macos arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
    "macos x86_64": {"sys_platform": "darwin", "platform_machine": "x86_64"},
}


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_keras_extra_installs_exactly_one_tensorflow_on_every_platform(platform):
    requirements = pytest.importorskip("packaging.requirements")
    env = {"python_version": "3.11", "os_name": "posix", "extra": "", **PLATFORMS[platform]}
    chosen = []
    for text in _project()["optional-dependencies"]["keras"]:
        req = requirements.Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            chosen.append(req.name)
    tf = [n for n in chosen if n.startswith("tensorflow")]
    assert len(tf) == 1, (platform, chosen)
    # the CPU-only wheel exists for x86_64 Linux and Windows only (checked on the index)
    cpu_wheel = PLATFORMS[platform]["platform_machine"] == "x86_64" and platform != "macos x86_64"
    assert tf[0] == ("tensorflow-cpu" if cpu_wheel else "tensorflow")
    assert "keras" in chosen


def test_py_typed_is_shipped():
    assert (ROOT / "src" / "cdig" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in data["package-data"]["cdig"]


def test_relative_links_of_readme_and_docs_resolve():
    link = re.compile(r"\]\(([^)\s]+)\)")
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in link.findall(md.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (md.parent / target.split("#")[0]).resolve()
            assert path.exists(), f"{md.name}: link to {target} does not resolve"


def _make_dry_run(target: str) -> str:
    """The commands `make TARGET` would run from scratch (``make -n -B``: nothing runs)."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "-B", "-C", str(root), target], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_make_demo_installs_only_what_the_demo_needs():
    # issue 27: a fresh clone's `make demo` installed every extra (Keras, JAX, Ray, docs)
    demo = _make_dry_run("demo")
    installs = [ln for ln in demo.splitlines() if "pip install" in ln]
    assert any("torch==" in ln for ln in installs)
    assert any('-e ".[plot]"' in ln for ln in installs)
    assert installs.index(next(ln for ln in installs if "torch==" in ln)) < installs.index(
        next(ln for ln in installs if ".[plot]" in ln)
    )  # torch first: pip must never resolve an open-ended torch
    for extra in ("keras", "jax", "ray", "docs", "dev"):
        assert not any(extra in ln for ln in installs), (extra, installs)
    assert "cdig demo --out out/demo" in demo
    # make test still installs everything
    test = _make_dry_run("test")
    assert '-e ".[dev,keras,jax,ray,docs]"' in test
