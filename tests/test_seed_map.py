"""The README's "From the seeds" table: every row points at a notebook cell that exists and that CI runs.

A row is `| seed | section | taught in | correction |`; "taught in" is a link to a notebook in notebooks/ and the
first line of the cell that teaches the section, in backticks (double backticks when the line holds one). Every
code cell that starts with `# seed 00N: ...` is a section taught for the seeds, so each must be on the map.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ("000", "001", "002", "003", "004")
REF = re.compile(r"\]\((notebooks/[^)]+\.ipynb)\)\s*·\s*(?:``\s?(.+?)\s?``|`([^`]+)`)")


def _section(readme: str) -> str:
    m = re.search(r"^## From the seeds\n(.*?)(?=^## )", readme, re.DOTALL | re.MULTILINE)
    assert m, 'README.md has a "## From the seeds" section before the next "## " heading'
    return m.group(1)


def _rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith(("| ---", "| seed |")):
            continue
        # drop the outer bars, split on the inner ones (" | "; an empty last cell leaves "x | ")
        cells = [c.strip() for c in re.split(r" \| ", line.strip()[1:-1] + " ")]
        rows.append(cells)
    return rows


def _first_lines(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    return {c.source.splitlines()[0].strip() for c in nb.cells if c.source.strip()}


ROWS = _rows(_section((ROOT / "README.md").read_text(encoding="utf-8")))


def test_the_map_has_rows_for_every_seed():
    assert len(ROWS) >= 40
    assert {r[0] for r in ROWS} == set(SEEDS), "one row at least per seed, and only seeds 000-004"
    assert all(len(r) == 4 for r in ROWS), [r for r in ROWS if len(r) != 4]


def test_parser_reads_a_row_and_rejects_a_bad_one():
    good = "| 002 | Sequential | [02](notebooks/02_x.ipynb) · ``## `nn.Sequential`: layers`` | |"
    cells = _rows(good)[0]
    assert cells[0] == "002" and REF.findall(cells[2]) == [("notebooks/02_x.ipynb", "## `nn.Sequential`: layers", "")]
    assert REF.findall("[02](notebooks/02_x.ipynb) and no cell") == []


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0]} {r[1][:40]}")
def test_each_row_names_a_cell_that_exists_in_a_notebook_ci_runs(row):
    refs = REF.findall(row[2])
    assert refs, f"row {row[:2]}: 'taught in' needs [name](notebooks/....ipynb) · `first line of the cell`"
    for rel, double, single in refs:
        path = ROOT / rel
        assert path.is_file(), f"{rel} does not exist"
        assert path.parent == ROOT / "notebooks", f"{rel}: tests/test_notebooks.py runs notebooks/*.ipynb only"
        marker = (double or single).strip()
        assert marker in _first_lines(path), f"{rel} has no cell whose first line is {marker!r}"


def test_every_seed_cell_is_on_the_map():
    mapped = {(rel, (d or s).strip()) for r in ROWS for rel, d, s in REF.findall(r[2])}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rel = f"notebooks/{path.name}"
        for line in sorted(_first_lines(path)):
            if re.match(r"# seed \d{3}", line):
                assert (rel, line) in mapped, f"{rel}: the cell {line!r} is not in README's seed map"
