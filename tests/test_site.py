"""The documentation site as a reader sees it (built by ``make docs`` into docs/_build/html).

* Every relative ``href``/``src`` of every built page resolves to a file, and a
  ``#fragment`` to an element id of the page it names (internal links only).
* The index, an API page and a gallery page render in headless Chromium with their title,
  and every image on them loads (``naturalWidth > 0``; the PNG files are non-empty and
  decode).
* The KID-PPG gallery page shows its figures when the data is there, and says plainly that
  the data is missing when it is not.

The tests skip with a reason when the site has not been built or Chromium is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.scripts

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
KIDPPG = ROOT / ".." / "shared" / "data" / "kidppg"
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
needs_site = pytest.mark.skipif(
    not (SITE / "index.html").is_file(),
    reason=f"the documentation site is not built ({SITE}); run `make docs` first",
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)

# the three pages read in Chromium: (path under the site, words its title must contain)
PAGES = {
    "index": ("index.html", "cdig"),
    "api": ("api/generated/cdig.explain.html", "cdig.explain"),
    "gallery": ("gallery/plot_05_multidomain_forda.html", "One FordA series in four domains"),
}


class Links(HTMLParser):
    """Element ids and every attribute that points at another resource."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []  # (tag, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src") and tag in ("a", "img", "link", "script", "source"):
                self.refs.append((tag, value))
            elif name == "srcset":
                self.refs += [(tag, part.split()[0]) for part in value.split(",") if part.strip()]


def parse(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def broken_links(site: Path) -> list[str]:
    """``page: link (why)`` for every relative link of the site that does not resolve."""
    pages = {  # _static holds the theme's files (one a Jinja template named .html), no page
        path: parse(path)
        for path in sorted(site.rglob("*.html"))
        if "_static" not in path.relative_to(site).parts
    }
    bad = []
    for page, links in pages.items():
        for tag, ref in links.refs:
            url = urlsplit(ref)
            if url.scheme or ref.startswith("//") or not ref.strip():
                continue  # external (not checked here), data: or mailto:
            target = page if not url.path else (page.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: <{tag}> {ref}"
            if not target.is_file():
                bad.append(f"{where} (no file {target})")
                continue
            if url.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(url.fragment) not in ids:
                    bad.append(f"{where} (no id {url.fragment!r} in {target.name})")
    return bad


# ---------------------------------------------------------------------- the link checker
def test_link_checker_catches_missing_files_and_fragments(tmp_path):
    """Control: the checker finds a missing page, a missing image and a missing fragment."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.html").write_text(
        "<p id='top'><a href='sub/b.html#here'>ok</a><a href='#top'>ok</a>"
        "<a href='https://example.org/x'>external</a><img src='data:image/png;base64,AA'>"
        "<a href='missing.html'>bad</a><a href='sub/b.html#nowhere'>bad</a>"
        "<img src='img/none.png'></p>"
    )
    (tmp_path / "sub" / "b.html").write_text("<h1 id='here'>b</h1><a href='../a.html'>ok</a>")
    bad = broken_links(tmp_path)
    assert len(bad) == 3, bad
    assert any("missing.html" in b for b in bad)
    assert any("'nowhere'" in b for b in bad)
    assert any("img/none.png" in b for b in bad)


@needs_site
def test_every_internal_link_of_the_site_resolves():
    n_pages = len(list(SITE.rglob("*.html")))
    assert n_pages > 50  # the guide, the gallery and one page per public name
    bad = broken_links(SITE)
    assert bad == [], f"{len(bad)} broken internal links:\n" + "\n".join(bad[:40])


@needs_site
def test_api_reference_has_a_page_for_every_public_name():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import conf  # docs/conf.py: the modules listed in docs/api.rst
    finally:
        sys.path.remove(str(ROOT / "docs"))
    import importlib

    modules = conf.api_modules()
    assert {"cdig", "cdig.domains", "cdig.metrics", "cdig.runs", "cdig.datasets"} <= set(modules)
    missing = []
    for module in modules:
        mod = importlib.import_module(module)
        page = SITE / "api" / f"{module}.html"
        assert page.is_file(), f"no page for {module}"
        ids = parse(page).ids
        for name in mod.__all__:
            obj = getattr(mod, name)
            if conf._kind(obj) == "module":
                continue
            home = conf._home(obj, name, modules)
            own = SITE / "api" / "generated" / f"{home or module}.{name}.html"
            if conf._kind(obj) == "data":
                ok = f"{module}.{name}" in ids
            else:
                ok = own.is_file()
            if not ok:
                missing.append(f"{module}.{name}")
    assert missing == [], f"public names without documentation: {missing}"


# ---------------------------------------------------------------------- Chromium
_PROBE = """<!doctype html><html><body>
<iframe id="f" width="1280" height="2400" src="{url}"></iframe><pre id="out">pending</pre>
<script>
const frame = document.getElementById("f");
frame.onload = () => {{
  const doc = frame.contentDocument;
  const imgs = Array.from(doc.images);
  imgs.forEach((i) => {{ i.loading = "eager"; }});
  const done = imgs.map((i) => i.complete ? Promise.resolve() :
    new Promise((r) => {{ i.onload = r; i.onerror = r; }}));
  Promise.all(done).then(() => {{
    const h1 = doc.querySelector("h1");
    document.getElementById("out").textContent = JSON.stringify({{
      title: doc.title,
      h1: h1 ? h1.textContent : null,
      text: doc.body.innerText.slice(0, 20000),
      images: imgs.map((i) => [i.getAttribute("src"), i.naturalWidth, i.naturalHeight]),
    }});
  }});
}};
</script></body></html>"""


def render(page: Path, tmp: Path) -> dict:
    """The page's title, first heading, text and images as Chromium loaded them."""
    probe = tmp / f"probe-{page.stem}.html"
    probe.write_text(_PROBE.format(url=page.as_uri()), encoding="utf-8")
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--allow-file-access-from-files", f"--user-data-dir={tmp / (page.stem + '-profile')}",
        "--virtual-time-budget=20000", "--dump-dom", probe.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    dom = done.stdout
    start, end = dom.find('<pre id="out">'), dom.rfind("</pre>")
    assert start >= 0 and end > start, f"chromium returned no page: {done.stderr[-2000:]}"
    import html

    body = html.unescape(dom[start + len('<pre id="out">') : end])
    assert body != "pending", f"{page} did not finish loading in Chromium"
    return json.loads(body)


def check_images(page: Path, seen: dict, minimum: int) -> None:
    images = [im for im in seen["images"] if not im[0].startswith("data:")]
    assert len(images) >= minimum, f"{page}: {len(images)} images, expected >= {minimum}"
    for src, width, height in images:
        assert width > 0 and height > 0, f"{page}: image {src} did not load"
        file = (page.parent / unquote(urlsplit(src).path)).resolve()
        assert file.is_file() and file.stat().st_size > 0, f"{page}: {src} is empty"
        if file.suffix == ".png":
            assert file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{src} is not a PNG"


@needs_site
@needs_chromium
@pytest.mark.parametrize("which", sorted(PAGES))
def test_page_renders_with_title_and_figures(which, tmp_path):
    path, words = PAGES[which]
    page = SITE / path
    assert page.is_file(), f"{page} was not built"
    seen = render(page, tmp_path)
    assert words in seen["title"] and seen["h1"] and words.split(".")[-1] in seen["h1"]
    if which == "index":  # the README's figures, and the site's sections
        check_images(page, seen, minimum=2)
        for section in ("User guide", "Gallery", "API reference"):
            assert section in seen["text"]
    elif which == "api":  # the signature and the parameters, from the docstring
        assert "Parameters" in seen["text"] and "domain" in seen["text"]
        assert "Attribution" in seen["text"]
    else:  # four figures produced by running the example, and its printed output
        check_images(page, seen, minimum=4)
        assert "sums per domain" in seen["text"]


@needs_site
@needs_chromium
def test_ppg_page_shows_the_figures_or_says_the_data_is_missing(tmp_path):
    page = SITE / "gallery" / "plot_02_ppg_heart_rate.html"
    seen = render(page, tmp_path)
    have_data = (KIDPPG / "ppg_samples.npz").is_file() and "CDIG_KIDPPG_DATA" not in os.environ
    if have_data:
        check_images(page, seen, minimum=2)
        assert "S13: prediction" in seen["text"]
    else:
        assert "THE KID-PPG DATA IS MISSING" in seen["text"]


def test_ppg_example_says_plainly_when_the_data_is_missing(tmp_path):
    """The gallery script itself, run on an empty folder: a message, no error."""
    env = {**os.environ, "CDIG_KIDPPG_DATA": str(tmp_path), "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    script = ROOT / "examples" / "gallery" / "plot_02_ppg_heart_rate.py"
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "THE KID-PPG DATA IS MISSING" in out and "ppg_samples.npz, model_S13.h5" in out
    # where to get it, and no path of the machine that built the page (issue 27)
    assert "github.com/esl-epfl/cross-domain-saliency-maps-paper" in out
    assert "CDIG_KIDPPG_DATA" in out and str(tmp_path) not in out and "/" + "work" not in out
