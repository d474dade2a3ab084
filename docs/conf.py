"""Sphinx configuration of the cdig documentation site.

Build it with ``make docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html``).
Nothing is fetched from the network: the gallery runs on data shipped by registry packages
(and on the KID-PPG files in ``../shared/data/kidppg`` when they exist), and intersphinx
reads only inventories found on disk (see :data:`INVENTORY_DIR` below).

The API reference is generated from each module's ``__all__``: docs/api.rst lists the
modules (one ``api/<module>`` line each in its toctree), and :func:`write_api_pages` writes
``docs/api/<module>.rst`` for each of them before the build; autosummary then writes one
page per public name under ``docs/api/generated/``. Both folders are build outputs
(git-ignored).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))  # the checkout's cdig, not another installed one

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cdig  # noqa: E402

project = "cdig"
author = "cdig developers"
copyright = "cdig developers"  # noqa: A001
release = version = cdig.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "img/README.md", "gallery/*.md5", "gallery/*.py"]
templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme"
html_title = f"cdig {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}  # the home page: the README, full width
html_show_sourcelink = False

# ---------------------------------------------------------------------- markdown pages
myst_enable_extensions = ["dollarmath", "deflist"]
myst_heading_anchors = 4  # "page.md#a-heading" links resolve as on GitHub

# ---------------------------------------------------------------------- docstrings
# napoleon reads the numpy-style sections; numpydoc's stricter validation is not needed
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = False
napoleon_use_rtype = False
napoleon_use_param = False  # "a, b : ..." stays one entry, not one copy per name
napoleon_preprocess_types = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_mock_imports: list[str] = []
autosummary_generate = True
autosummary_ignore_module_all = False
add_module_names = False
nitpicky = False  # unresolved references render as plain text, without a warning
# the JSON sketch in cli.md has "..." placeholders: highlighted leniently, without a warning
suppress_warnings = ["misc.highlighting_failure"]
# a numpy-style type such as "ndarray of shape (batch, n_steps)" is parsed as an annotation,
# and "n_steps" then matches several attributes of the reference: Sphinx links the first;
# an ambiguous match is not an error of the docstring
suppress_warnings += ["ref.python"]

# ---------------------------------------------------------------------- intersphinx (offline)
#: Folder holding ``<name>.inv`` inventories (e.g. ``numpy.inv``), from the environment
#: variable ``CDIG_INTERSPHINX_DIR``. Only files present there are used: the build never
#: downloads one, and without any it builds the same, with plain-text external names.
INVENTORY_DIR = Path(os.environ.get("CDIG_INTERSPHINX_DIR", DOCS / "_build" / "inventories"))
_TARGETS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "statsmodels": "https://www.statsmodels.org/stable/",
    "pywt": "https://pywavelets.readthedocs.io/en/latest/",
}
intersphinx_mapping = {
    name: (url, str(INVENTORY_DIR / f"{name}.inv"))
    for name, url in _TARGETS.items()
    if (INVENTORY_DIR / f"{name}.inv").is_file()
}
intersphinx_timeout = 1

# ---------------------------------------------------------------------- gallery
# Gallery scripts are run at build time with quick settings (small models, few samples).
# Set CDIG_DOCS_PLOT_GALLERY=0 to build the site without running them (pages then show no
# figures and the site test fails): only for quick edits of the text.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|[/\\])_",  # helpers such as _forda.py are not examples
    "plot_gallery": os.environ.get("CDIG_DOCS_PLOT_GALLERY", "True"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "capture_repr": (),
    "show_memory": False,
    "show_signature": False,
    "min_reported_time": 1e9,
    "backreferences_dir": None,
    "doc_module": (),
}
warnings.filterwarnings(
    "ignore", message="Matplotlib is currently using agg", category=UserWarning
)

# ---------------------------------------------------------------------- API pages from __all__
API_INDEX = DOCS / "api.rst"
API_DIR = DOCS / "api"
_ENTRY = re.compile(r"^\s+api/(?P<module>[\w.]+)\s*$")


def api_modules() -> list[str]:
    """The modules listed in docs/api.rst's toctree (``api/<module>`` lines), in order."""
    text = API_INDEX.read_text(encoding="utf-8")
    return [m.group("module") for line in text.splitlines() if (m := _ENTRY.match(line))]


def _kind(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj) and not isinstance(obj, (str, bytes)):
        return "function"
    return "data"


def _home(obj: Any, name: str, modules: list[str]) -> str | None:
    """The listed module that documents ``obj``: the most specific one exporting it."""
    owners = [
        m
        for m in modules
        if name in getattr(importlib.import_module(m), "__all__", ())
        and getattr(importlib.import_module(m), name) is obj
    ]
    return max(owners, key=lambda m: m.count(".")) if owners else None


_SECTIONS = {
    "class": "Classes",
    "function": "Functions",
    "exception": "Exceptions and warnings",
    "data": "Constants",
}


def _data_doc(obj: Any, name: str) -> list[str]:
    """The ``#:`` comment documenting ``name`` where it is defined (any loaded cdig module)."""
    from sphinx.pycode import ModuleAnalyzer

    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("cdig") or getattr(module, name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # a module without source: no comment to read
            continue
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line.strip()]
    return []


def _data_entry(mod: Any, name: str) -> list[str]:
    """``py:data`` with its ``#:`` comment and, when short, its value."""
    obj = getattr(mod, name)
    out = [f".. py:data:: {name}", ""]
    out += [f"   {line}" for line in _data_doc(obj, name)] + [""]
    value = repr(obj)
    if len(value) <= 200 and "\n" not in value:
        out += ["   Value: ``" + value.replace("`", "'") + "``", ""]
    else:
        out += [f"   A ``{type(obj).__name__}``.", ""]
    return out


def module_page(module: str, modules: list[str]) -> str:
    """The reST of one module's page: its docstring, then every name of its ``__all__``."""
    mod = importlib.import_module(module)
    names = list(getattr(mod, "__all__", []))
    if not names:
        raise RuntimeError(f"{module} has no __all__: the API reference lists __all__ names.")
    groups: dict[str, list[str]] = {k: [] for k in (*_SECTIONS, "module", "alias")}
    for name in names:
        obj = getattr(mod, name)
        kind = _kind(obj)
        if kind in ("class", "function", "exception") and _home(obj, name, modules) != module:
            groups["alias"].append(name)
        else:
            groups[kind].append(name)
    title = f"``{module}``"
    out = [title, "=" * len(title), "", f".. automodule:: {module}", "   :no-members:", ""]
    out += [f".. currentmodule:: {module}", ""]
    for kind, heading in _SECTIONS.items():
        if not groups[kind]:
            continue
        out += [heading, "-" * len(heading), ""]
        if kind == "data":
            for name in groups[kind]:
                out += _data_entry(mod, name)
            continue
        out += [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
        out += [f"   {name}" for name in groups[kind]] + [""]
    if groups["alias"]:
        out += ["Also exported here", "------------------", ""]
        for name in groups["alias"]:
            obj = getattr(mod, name)
            home = _home(obj, name, modules)
            role = "func" if _kind(obj) == "function" else "class"
            out += [f"- ``{module}.{name}``: :{role}:`{home}.{name}`"]
        out += [""]
    if groups["module"]:
        out += ["Submodules", "----------", ""]
        for name in groups["module"]:
            full = getattr(mod, name).__name__
            ref = f":mod:`{full}`" if full in modules else f"``{full}``"
            out += [f"- {ref}"]
        out += [""]
    return "\n".join(out)


def write_api_pages() -> None:
    """Write docs/api/<module>.rst for every module of docs/api.rst (only when changed)."""
    modules = api_modules()
    API_DIR.mkdir(exist_ok=True)
    for module in modules:
        path = API_DIR / f"{module}.rst"
        text = module_page(module, modules)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")



def _object(path: str) -> Any:
    """The object a dotted path names (``cdig.attribution.Attribution``), or None."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part, None)
        return obj
    return None


def _public_alias(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``cdig.<private module>.Name`` (type hints) to the page of the same object
    under its documented public name, so that signatures link across the reference."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("cdig."):
        return None
    obj = _object(target)
    if obj is None:
        return None
    domain = env.get_domain("py")
    short = "." + target.rsplit(".", 1)[-1]
    for name in sorted(domain.objects, key=lambda n: -n.count(".")):
        if name.endswith(short) and name != target and _object(name) is obj:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
            )
    return None


_FIELD = re.compile(r"^(?P<head>\s*\*{0,2}[A-Za-z_][\w, ]*\s:\s)(?P<type>.*)$")


def _escape_star_in_types(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """``Tensor of shape (n, *coefficient_shape)`` in a numpy-style field: the ``*`` is a
    literal star, not the start of reST emphasis (runs before napoleon reads the fields)."""
    for i, line in enumerate(lines):
        m = _FIELD.match(line)
        if m is not None and "*" in m.group("type"):
            typ = re.sub(r"(?<![\\`])\*(?=\w)", r"\\*", m.group("type"))
            lines[i] = m.group("head") + typ


def setup(app: Any) -> None:
    write_api_pages()  # before autosummary reads the sources (builder-inited)
    app.connect("autodoc-process-docstring", _escape_star_in_types, priority=100)
    app.connect("missing-reference", _public_alias)
