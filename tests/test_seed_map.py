"""The README's "From the seeds" table: every row points at a notebook cell that exists and that CI runs.

A row is `| seed | section | taught in | correction |`; "taught in" is a link to a notebook in notebooks/ and the
first line of the cell that teaches the section, in backticks (double backticks when the line holds one); several
such links when the section is taught in several cells. Every code cell that starts with `# seed 00N: ...` is a
section taught for the seeds, so each must be on the map. Every torch API the section names (a class name, or a
name in backticks, that torch, torchvision, numpy or tensorboardX defines) is used in the code of a cell the row
points at: the MultiplicativeLR row's cell calls MultiplicativeLR.
"""
import functools
import inspect
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


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def _code_of(path: Path, first_line: str) -> str:
    """The code a cell teaches: its own source for a code cell; for a markdown cell (a heading), the code cells
    that follow it up to the next markdown cell."""
    cells = _cells(path)
    i = next(i for i, c in enumerate(cells) if c.source.strip() and c.source.splitlines()[0].strip() == first_line)
    if cells[i].cell_type == "code":
        return cells[i].source
    code = []
    for c in cells[i + 1:]:
        if c.cell_type == "markdown":
            break
        code.append(c.source)
    return "\n".join(code)


@functools.cache
def _api_names() -> frozenset:
    """The names of torch's, torchvision's, numpy's and tensorboardX's public API that a row's section may name:
    module attributes, methods of the classes the seeds use, and the DataLoader's arguments."""
    import numpy
    import tensorboardX
    import torch
    import torchvision
    import torchvision.transforms.v2
    from torch.optim import lr_scheduler, swa_utils
    from torch.utils import data

    spaces = [torch, torch.autograd, torch.nn, torch.nn.init, torch.nn.functional, torch.optim, lr_scheduler, swa_utils, data,
              torchvision.transforms, torchvision.transforms.v2, torchvision.datasets, torchvision.models,
              torchvision.utils, numpy]
    classes = [torch.nn.Module, torch.optim.Optimizer, lr_scheduler.LRScheduler, tensorboardX.SummaryWriter,
               torch.Tensor]
    names = {n for space in spaces + classes for n in dir(space) if not n.startswith("_")}
    names |= set(inspect.signature(data.DataLoader).parameters)
    return frozenset(names)


def _named_apis(section: str) -> set[str]:
    """The API names a section names: words in backticks and capitalised words (class names), each kept when it
    is a name of the API (its last dotted part); prose words ("step", "train") count only in backticks."""
    words = set()
    for quoted in re.findall(r"`([^`]+)`", section):
        words |= set(re.findall(r"[A-Za-z_][\w.]*", quoted))
    words |= set(re.findall(r"\b[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*\b|\b[A-Z]{2,}[a-z]*\b", re.sub(r"`[^`]*`", "", section)))
    return {w.split(".")[-1] for w in words if w.split(".")[-1] in _api_names() and len(w.split(".")[-1]) > 2}


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


def test_named_apis_reads_class_names_and_backticks_only():
    assert _named_apis("2.2.3 MultiplicativeLR with a list of lambdas") == {"MultiplicativeLR"}
    assert _named_apis("`DataLoader(batch_size, shuffle, sampler)` and the step") == \
        {"DataLoader", "batch_size", "shuffle", "sampler"}
    assert _named_apis("training with `Variable(x)` and `loss.data[0]`") == {"Variable", "data"}
    assert _named_apis("二.3 模型初始化") == set()


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0]} {r[1][:40]}")
def test_each_rows_cells_use_the_api_the_section_names(row):
    code = "\n".join(_code_of(ROOT / rel, (d or s).strip()) for rel, d, s in REF.findall(row[2]))
    missing = sorted(n for n in _named_apis(row[1]) if not re.search(rf"\b{re.escape(n)}\b", code))
    assert not missing, f"row {row[:2]}: the code of the cells it points at never uses {missing}"


def test_every_seed_cell_is_on_the_map():
    mapped = {(rel, (d or s).strip()) for r in ROWS for rel, d, s in REF.findall(r[2])}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rel = f"notebooks/{path.name}"
        for line in sorted(_first_lines(path)):
            if re.match(r"# seed \d{3}", line):
                assert (rel, line) in mapped, f"{rel}: the cell {line!r} is not in README's seed map"
