"""The user guide's structure (issue 27): a path, distinct titles, no development on the landing.

The site itself is built by ``make docs``; these checks read the markdown sources, so they run
without a build (tests/test_site.py checks the built pages and their links).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _toctree_entries(text: str) -> list[str]:
    entries: list[str] = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        entries += [ln.strip() for ln in block.splitlines() if ln.strip() and ":" not in ln]
    return entries


def _include_option(page: str, option: str) -> str:
    m = re.search(rf"^:{option}: (.+)$", (DOCS / page).read_text(encoding="utf-8"), re.M)
    assert m, f"docs/{page} has no :{option}: on its README include"
    return m.group(1).strip()


def test_guide_follows_the_path_of_a_first_project():
    guide = _toctree_entries((DOCS / "guide.md").read_text(encoding="utf-8"))
    path = ["getting-started", "choosing", "accuracy", "datasets", "cli", "frameworks", "recipes"]
    assert all(p in guide for p in path), guide
    assert [p for p in guide if p in path] == path, f"out of order: {guide}"
    assert guide[0] == "getting-started"
    for page in guide:  # every entry is a page, and every guide page is listed
        assert (DOCS / f"{page}.md").is_file(), page


def test_no_two_pages_share_the_first_words_of_their_title():
    titles = {}
    for md in sorted(DOCS.glob("*.md")):
        first = md.read_text(encoding="utf-8").splitlines()[0]
        if first.startswith("# "):
            titles[md.name] = first[2:]
    starts: dict[str, str] = {}
    for name, title in titles.items():
        key = " ".join(title.split()[:1]).lower()
        assert key not in starts, f"{name} ({title!r}) and {starts[key]} begin alike"
        starts[key] = f"{name} ({title!r})"


def test_landing_page_stops_before_development_which_has_its_own_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    end = _include_option("index.md", "end-before")
    start = _include_option("development.md", "start-after")
    assert end in readme and start in readme
    landing = readme[: readme.index(end)]
    assert "## Development" not in landing and "make test` runs" not in landing
    assert "## Install" in landing and "## Quick start" in landing
    dev = readme[readme.index(start) :]
    assert "make test" in dev and "Fresh clone" in dev
    index = _toctree_entries((DOCS / "index.md").read_text(encoding="utf-8"))
    assert "development" in index and "guide" in index


def _cells(row: str) -> list[str]:
    """A table row's cells as GitHub and MyST split them: on every pipe not escaped as ``\\|``
    (a pipe inside `code` splits the cell too)."""
    return re.split(r"(?<!\\)\|", row.strip().removeprefix("|").removesuffix("|"))


def test_every_markdown_table_row_has_as_many_cells_as_its_header():
    # issue 27: a `|` inside code split the relative_delta and error cells of accuracy.md
    assert len(_cells("| `a \\| b` | c |")) == 2 and len(_cells("| `|x|` | c |")) == 4
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if not re.fullmatch(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?", line.strip()):
                continue  # not a delimiter row
            n_header = len(_cells(lines[i - 1]))
            j = i + 1
            while j < len(lines) and lines[j].strip().startswith("|"):
                n = len(_cells(lines[j]))
                assert n == n_header, (
                    f"{path.name}:{j + 1}: {n} cells where the header has {n_header} "
                    f"(escape a pipe inside code as \\|, or avoid it): {lines[j][:80]!r}"
                )
                j += 1


def test_readme_ppg_text_says_the_example_raises_the_budget_it_needs():
    # issue 27: the text said 569 evaluations, above the default max_steps=512, without saying
    # that the example raises it
    import inspect

    import cdig

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    case = readme[readme.index("## Case study: heart rate from PPG") :]
    case = case[: case.index("\n## ")]
    evaluations = [int(n) for n in re.findall(r"after (\d+)(?: model evaluations)?", case)]
    default = inspect.signature(cdig.explain).parameters["max_steps"].default
    example = (ROOT / "examples" / "ppg_heart_rate.py").read_text(encoding="utf-8")
    budget = int(re.search(r'"--max-steps", type=int, default=(\d+)', example).group(1))
    assert evaluations and max(evaluations) <= budget
    if max(evaluations) > default:
        assert f"`max_steps={default}`" in case and f"`max_steps={budget}`" in case


def test_readme_lists_the_guide_in_the_guide_s_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Documentation") : readme.index("For contributors")]
    listed = [
        Path(p).stem for p in re.findall(r"^- \[[^\]]+\]\(docs/([\w-]+\.md)\)", section, re.M)
    ]
    guide = _toctree_entries((DOCS / "guide.md").read_text(encoding="utf-8"))
    assert listed == guide
