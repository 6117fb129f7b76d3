"""README.md is the first screen: the two Quickstart commands, the results table, the real-LM
squeeze, and links; the long sections live under docs/, and every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

from common.markdown import markers
from llm_validation.measure.results import BLOCK, CLAIMS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

# Every heading the README had when its long sections moved to docs/: each must still be a
# heading of README.md or of a docs page (its level may change).
SECTIONS = (
    "learning-dynamics",
    "Quickstart",
    "What is inside",
    "The simulator in one minute",
    "Simulator experiments",
    "llm_validation",
    "From Python",
    "Real-LM curves: the presets against the official logs",
    "`cpu-squeeze`: the squeeze on 2 CPU cores",
    "Your own trl run: the learning-dynamics callback, `--backend trl`, torchrun",
    "Alignment: sampling, pairwise win rates, and extension vs DPO",
    "Predicting Δ log π (eNTK)",
    "Kernel drift: how long the one-step picture holds",
    "Gallery",
    "Tests",
    "Performance",
)


def headings(path: Path) -> set[str]:
    return set(re.findall(r"^#+ (.+?)\s*$", path.read_text(), re.M))


def links(path: Path) -> list[str]:
    """Relative targets of Markdown links and images (no URLs, no in-page anchors)."""
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_readme_fits_in_250_lines():
    assert len(README.read_text().splitlines()) <= 250


def test_quickstart_is_the_two_commands():
    quickstart = README.read_text().split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", quickstart, re.S).group(1)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == ["make demo", "make test"]


def test_the_real_squeeze_and_the_results_table_open_the_readme():
    text = README.read_text()
    begin, end = markers(BLOCK)
    assert text.count(begin) == text.count(end) == 1
    first_section = text.index("\n## ")
    assert text.index("docs/gallery/16_real_squeeze.png") < first_section
    table = text.split(begin, 1)[1].split(end, 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0].lstrip("| ") for r in rows[1:]] == [c.text for c in CLAIMS]


def test_every_section_of_the_long_readme_is_a_heading_in_readme_or_docs():
    found = headings(README).union(*(headings(page) for page in DOCS))
    assert [s for s in SECTIONS if s not in found] == []


def test_every_docs_page_the_readme_links_exists_and_is_not_empty():
    pages = [t for t in links(README) if t.startswith("docs/") and t.endswith(".md")]
    assert len(set(pages)) >= 9  # simulator, findings, llm_validation, trl, alignment, entk, …
    for page in pages:
        assert (ROOT / page).is_file() and (ROOT / page).read_text().strip(), page


def test_every_relative_link_and_image_resolves():
    broken = [
        (path.name, target)
        for path in (README, *DOCS)
        for target in links(path)
        if target and not (path.parent / target).exists()
    ]
    assert broken == []


def test_performance_table_markers_are_in_docs_performance():
    begin, end = markers("perf-table")
    text = (ROOT / "docs" / "performance.md").read_text()
    assert text.count(begin) == text.count(end) == 1
    assert begin not in README.read_text()
