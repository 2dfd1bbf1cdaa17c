"""The executed copies in docs/notebooks/: one per notebook, the notebook's current cells, run without an error,
small enough to commit (no widget state, PNGs within docs_notebooks.MAX_PNG), and linked from the READMEs.

"Current" is checked on the copies as committed: where the notebook tests rewrite the copies during the same run
(NBTRAIN_DOCS_NOTEBOOKS=1, which CI sets), a copy read back from the disk could be one this run just wrote from
today's notebook, and would prove nothing about the commit; so there the copy is read from git's HEAD.
"""
import base64
import io
import subprocess

import nbformat
import numpy as np
import pytest
from PIL import Image
from test_notebooks import ROOT, _errors, _text

from tools import docs_notebooks

SOURCES = docs_notebooks.sources_of_copies()
REFRESH = "run `python -m tools.docs_notebooks NAME` (or the notebook tests with NBTRAIN_DOCS_NOTEBOOKS=1)"


def _png(width: int, height: int, noise: bool) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if noise else \
        np.full((height, width, 3), 200, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _executed_notebook(png: bytes):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"a": {}}}}
    cell = nbformat.v4.new_code_cell("show()", execution_count=1)
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    cell.outputs = [
        nbformat.v4.new_output("display_data", {docs_notebooks.WIDGET_VIEW: {"model_id": "a"},
                                                "text/plain": "VBox(children=(HTML(value='...'),))"}),
        nbformat.v4.new_output("display_data", {"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"}),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    return nb


def test_small_png_keeps_a_small_image_byte_for_byte():
    png = _png(200, 100, noise=False)
    assert len(png) < docs_notebooks.MAX_PNG
    assert docs_notebooks.small_png(png) == png


def test_small_png_brings_a_large_image_under_the_limit_and_keeps_it_a_picture():
    png = _png(700, 500, noise=True)
    assert len(png) > 10 * docs_notebooks.MAX_PNG
    small = docs_notebooks.small_png(png)
    assert len(small) <= docs_notebooks.MAX_PNG
    img = Image.open(io.BytesIO(small))
    assert img.format == "PNG" and img.size[0] / img.size[1] == pytest.approx(700 / 500, rel=0.02)
    assert 50 <= img.size[0] < 700


def test_slim_drops_widget_state_and_views_and_timings_and_shrinks_images():
    nb = docs_notebooks.slim(_executed_notebook(_png(700, 500, noise=True)))
    assert "widgets" not in nb.metadata
    cell = nb.cells[1]
    assert "execution" not in cell.metadata and cell.execution_count == 1
    widget, image, stream = cell.outputs
    assert widget.data == {"text/plain": docs_notebooks.WIDGET_NOTE}
    assert len(base64.b64decode(image.data["image/png"])) <= docs_notebooks.MAX_PNG
    assert image.data["text/plain"] == "<Figure>" and stream.text == "done\n"
    nbformat.validate(nb)


def test_write_copy_puts_a_notebook_under_docs_notebooks_by_its_path_under_notebooks(tmp_path, monkeypatch):
    monkeypatch.setattr(docs_notebooks, "DOCS", tmp_path / "docs")
    source = docs_notebooks.SOURCE / "zh" / "02_building_models.ipynb"
    dest = docs_notebooks.write_copy(_executed_notebook(_png(50, 50, noise=False)), source)
    assert dest == tmp_path / "docs" / "zh" / "02_building_models.ipynb"
    back = nbformat.read(dest, as_version=4)
    assert back.cells[1].outputs[2].text == "done\n" and "widgets" not in back.metadata


@pytest.mark.parametrize("value, wanted", [("", False), ("0", False), ("1", True)])
def test_copies_are_written_only_when_asked(monkeypatch, value, wanted):
    monkeypatch.setenv("NBTRAIN_DOCS_NOTEBOOKS", value)
    assert docs_notebooks.wanted() is wanted


def test_every_copy_has_its_notebook():
    copies = sorted((ROOT / "docs" / "notebooks").rglob("*.ipynb"))
    orphans = [c for c in copies if c not in {docs_notebooks.copy_path(s) for s in SOURCES}]
    assert not orphans, f"executed copies without a notebook (delete them): {orphans}"


def _committed(path):
    """The text of ``path`` as git's HEAD has it (None when it is not committed or this is no git checkout)."""
    rel = path.relative_to(ROOT).as_posix()
    try:
        out = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return out.stdout if out.returncode == 0 else None


def _copy_as_committed(copy, source):
    """The executed copy the commit holds: the file itself, or git's HEAD version when this run rewrites the
    copies (NBTRAIN_DOCS_NOTEBOOKS=1) in a git checkout whose notebook is committed unchanged."""
    if docs_notebooks.wanted() and _committed(source) == source.read_text(encoding="utf-8"):
        text = _committed(copy)
        assert text is not None, f"{copy.relative_to(ROOT)} is not committed"
        return nbformat.reads(text, as_version=4)
    return nbformat.read(copy, as_version=4)


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, _text(c)) for c in nb.cells]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(docs_notebooks.SOURCE)))
def test_executed_copy_is_current_complete_and_small(source):
    copy = docs_notebooks.copy_path(source)
    rel = source.relative_to(docs_notebooks.SOURCE)
    assert copy.is_file(), f"{rel} has no executed copy: {REFRESH.replace('NAME', str(rel))}"
    nb, done = nbformat.read(source, as_version=4), _copy_as_committed(copy, source)
    stale = [i for i, (a, b) in enumerate(zip(_cells(nb), _cells(done))) if a != b]
    assert _cells(done) == _cells(nb), \
        f"the copy of {rel} is stale (cells {stale or 'added or removed'}): {REFRESH.replace('NAME', str(rel))}"
    assert not _errors(done), "\n".join(_errors(done))
    code_cells = [c for c in done.cells if c.cell_type == "code" and _text(c).strip()]
    assert all(c.execution_count for c in code_cells) and any(c.outputs for c in code_cells)
    assert "widgets" not in done.metadata
    for cell in code_cells:
        for out in cell.outputs:
            data = out.get("data", {})
            assert docs_notebooks.WIDGET_VIEW not in data
            if "image/png" in data:
                assert len(base64.b64decode(data["image/png"])) <= docs_notebooks.MAX_PNG


def test_where_ci_rewrites_the_copies_the_committed_copy_is_checked(monkeypatch):
    source = SOURCES[0]
    copy = docs_notebooks.copy_path(source)
    stale = nbformat.writes(_executed_notebook(_png(20, 20, noise=False)))
    monkeypatch.setattr(__import__(__name__), "_committed", lambda p: source.read_text(encoding="utf-8") if p == source else stale)
    monkeypatch.setenv("NBTRAIN_DOCS_NOTEBOOKS", "1")
    assert _cells(_copy_as_committed(copy, source)) == [("markdown", "# t"), ("code", "show()")]
    monkeypatch.setenv("NBTRAIN_DOCS_NOTEBOOKS", "")
    assert _cells(_copy_as_committed(copy, source)) == _cells(nbformat.read(copy, as_version=4))


def test_readmes_link_every_executed_copy():
    readme, readme_zh = (ROOT / "README.md").read_text(), (ROOT / "README.zh-CN.md").read_text()
    for source in SOURCES:
        rel = docs_notebooks.copy_path(source).relative_to(ROOT).as_posix()
        text = readme_zh if source.parent.name == "zh" else readme
        assert f"]({rel})" in text, f"{'README.zh-CN.md' if text is readme_zh else 'README.md'} links {rel}"
