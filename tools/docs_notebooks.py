"""Executed copies of the notebooks for readers on GitHub and nbviewer: docs/notebooks/<name>.ipynb.

notebooks/ holds the notebooks stripped; docs/notebooks/ holds each one run top to bottom, made small enough
to commit: widget state and widget views dropped (they need a live kernel), each PNG re-encoded (and scaled
down if it must be) to at most MAX_PNG bytes, timing metadata removed.

    python -m tools.docs_notebooks                 # every notebook under notebooks/ (zh/ included)
    python -m tools.docs_notebooks 05 zh/02        # those whose path relative to notebooks/ starts so

The tests that run the notebooks (tests/test_notebooks.py, tests/test_notebooks_zh.py) write the same copies
when NBTRAIN_DOCS_NOTEBOOKS=1, so CI refreshes them in its own clone.
"""
from __future__ import annotations

import base64
import io
import os
import signal
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks"
DOCS = ROOT / "docs" / "notebooks"
MAX_PNG = 100_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "[an interactive widget: run the notebook in Jupyter to use it]"


def wanted() -> bool:
    """Whether a notebook test should write its executed copy (NBTRAIN_DOCS_NOTEBOOKS=1)."""
    return os.environ.get("NBTRAIN_DOCS_NOTEBOOKS", "") not in ("", "0")


def sources_of_copies() -> list[Path]:
    """The notebooks that get an executed copy: every one under notebooks/ (checkpoint folders left out)."""
    return sorted(p for p in SOURCE.rglob("*.ipynb") if not any(part.startswith(".") for part in p.relative_to(SOURCE).parts))


def copy_path(source: Path) -> Path:
    """docs/notebooks/<path relative to notebooks/>, e.g. notebooks/zh/02_x.ipynb -> docs/notebooks/zh/02_x.ipynb."""
    return DOCS / Path(source).resolve().relative_to(SOURCE)


def small_png(data: bytes, limit: int = MAX_PNG) -> bytes:
    """``data`` (a PNG) re-encoded to at most ``limit`` bytes: as it is when it fits, else optimised, then
    with a 256-colour palette, then scaled down by steps until it fits."""
    if len(data) <= limit:
        return data
    from PIL import Image  # heavy optional module: only when a PNG is over the limit

    img = Image.open(io.BytesIO(data))
    img.load()
    candidates = [img, img.convert("RGB").quantize(256)]
    while True:
        for im in candidates:
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
            if buf.tell() <= limit:
                return buf.getvalue()
        w, h = candidates[-1].size
        candidates = [candidates[-1].resize((max(1, int(w * 0.8)), max(1, int(h * 0.8))))]


def _slim_output(out) -> None:
    data = out.get("data")
    if data is None:
        return
    if WIDGET_VIEW in data:
        out["data"] = {"text/plain": WIDGET_NOTE}
        return
    if "image/png" in data:
        png = small_png(base64.b64decode(data["image/png"]))
        data["image/png"] = base64.b64encode(png).decode("ascii")
        out.get("metadata", {}).get("image/png", {}).pop("needs_background", None)


def slim(nb):
    """``nb`` (executed) made fit to commit, in place: no widget state or views, small PNGs, no timings."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            _slim_output(out)
    return nb


def write_copy(nb, source: Path) -> Path:
    """Write the executed ``nb`` (run from ``source``), slimmed, to its place under docs/notebooks/."""
    dest = copy_path(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(slim(nb), dest)
    return dest


def _tensorboard_pids() -> set[int]:
    """TensorBoard servers that `%tensorboard` started (they outlive the kernel)."""
    try:
        from tensorboard import manager  # heavy optional module: only to stop what a notebook started
    except ImportError:
        return set()
    return {info.pid for info in manager.get_all()}


def execute(source: Path, kernel_name: str = "python3", folder: Path | None = None, timeout: int = 300):
    """Run ``source`` top to bottom in ``folder`` (a fresh temporary one by default); the executed notebook.
    A cell's error raises nbclient's CellExecutionError; TensorBoard servers the notebook started are stopped."""
    from nbclient import NotebookClient  # heavy optional module: only the runner needs it

    nb = nbformat.read(source, as_version=4)
    before = _tensorboard_pids()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = NotebookClient(nb, kernel_name=kernel_name, timeout=timeout, startup_timeout=120,
                                    resources={"metadata": {"path": str(folder or tmp)}})
            client.execute()
    finally:
        for pid in _tensorboard_pids() - before:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    return nb


def main(argv: list[str]) -> int:
    sources = sources_of_copies()
    if argv:
        sources = [p for p in sources if any(str(p.relative_to(SOURCE)).startswith(a) for a in argv)]
    # the kernel: this checkout's nbtrain first, and the inline backend (figures become PNG outputs)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ.setdefault("OMP_NUM_THREADS", "1")       # one torch thread, as tests/test_notebooks.py runs them
    for source in sources:
        print(f"{source.relative_to(ROOT)} -> {write_copy(execute(source), source).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
