"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel without an error output.

The kernel is this venv's Python, registered in a temporary JUPYTER_PATH, with the checkout first on its
PYTHONPATH, so a fresh CI venv (and a worktree) runs the checkout's nbtrain. Each notebook runs in a temporary
folder so the runs/ and checkpoints/ it writes stay out of the repository.
"""
import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tools import docs_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "nbtrain-test"


def _text(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory):
    """A kernelspec for this interpreter in a private JUPYTER_PATH (no user-level install needed)."""
    pytest.importorskip("ipykernel")
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    spec_dir = jupyter_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nbtrain (test)",
        "language": "python",
        # the inline backend, not the Agg backend the test process uses; the checkout's nbtrain first.
        # PATH is left as it is, as in a kernel whose venv is not activated: nb.tensorboard finds the venv's
        # `tensorboard` itself. One torch thread: the notebooks' models are small, and two kernels side by side
        # (xdist) with two OpenMP threads each on 2 cores spend most of their CPU spinning at barriers (05: 98 s of
        # CPU with two threads, 9 s with one); the executed copies are made the same way (tools/docs_notebooks.py)
        "env": {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                "MPLBACKEND": "module://matplotlib_inline.backend_inline", "OMP_NUM_THREADS": "1"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), old]))
    yield KERNEL
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def _tensorboards() -> dict:
    """TensorBoard servers that `%tensorboard` started, by pid (they outlive the kernel)."""
    try:
        from tensorboard import manager
    except ImportError:
        return {}
    return {info.pid: info for info in manager.get_all()}


def _plain(out) -> str:
    if out.output_type == "stream":
        return out.text
    return "".join(out.get("data", {}).get("text/plain", ""))


def _errors(nb) -> list[str]:
    """Error outputs, tracebacks written to stderr and TensorBoard's "ERROR: ..." notes (the magic reports a
    failed start, e.g. no `tensorboard` command, as a plain display, not as an error), with their cell."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {i}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr" and "Traceback" in out.text:
                found.append(f"cell {i}: traceback on stderr:\n{out.text}")
            elif _plain(out).lstrip().startswith("ERROR:"):
                found.append(f"cell {i}: {_plain(out).strip()}")
    return found


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, "notebooks/ holds the tutorial notebooks"


def _hidden(cell) -> bool:
    """A cell whose source is collapsed in JupyterLab, Notebook 7 and VS Code."""
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"))


def _solutions(nb) -> list:
    """The cells after the exercise (the last markdown cell)."""
    last_md = max(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    return nb.cells[last_md + 1:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean_and_well_framed(path):
    """Outputs stripped in git; it says first what the reader will learn and ends with an exercise, after which
    only its solution may follow, in collapsed code cells (they run in CI like every other cell)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs before committing"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "What you will learn" in _text(first)
    exercise = nb.cells[len(nb.cells) - len(_solutions(nb)) - 1]
    assert _text(exercise).lstrip("# ").startswith("Exercise"), "the last markdown cell is the exercise"
    assert all(c.cell_type == "code" and _hidden(c) for c in _solutions(nb)), \
        'after the exercise only its solution, in code cells with metadata {"jupyter": {"source_hidden": true}}'


# the notebooks that ship the exercise's solution (issues 16 and 26); 08 ends with the exercise alone
WITH_SOLUTIONS = ["00_quickstart", "01_data_and_transforms", "02_building_models", "02b_your_own_module",
                  "03_optimizers", "04_lr_schedulers", "05_fit_and_dashboard", "06_tensorboard",
                  "07_checkpoints_and_resume"]


@pytest.mark.parametrize("stem", WITH_SOLUTIONS)
def test_exercise_is_followed_by_its_collapsed_solution(stem):
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    solutions = _solutions(nb)
    assert solutions and all(_hidden(c) for c in solutions), f"{stem} ends with its solution in a collapsed cell"
    assert "solution" in _text(nb.cells[-len(solutions) - 1]).lower(), "the exercise says where its solution is"


def test_readme_links_every_notebook_with_binder_and_colab_badges():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        rel = f"notebooks/{path.name}"
        assert f"]({rel})" in readme, f"README links {rel}"
        assert f"labpath=notebooks%2F{path.name})" in readme, f"README has a Binder badge for {rel}"
        assert f"/blob/main/{rel})" in readme, f"README has an Open in Colab badge for {rel}"


def test_readme_shows_the_screenshots_the_browser_test_makes():
    import re
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+\.png)\)", readme)
    assert len(shown) >= 4
    made = "".join(p.read_text() for p in (ROOT / "tests" / "browser").glob("test_*.py"))
    shot = set(re.findall(r'_shoot\([^,]+, f?"([^"]+)"\)', made))     # test_workbench's workbench_<name>.png
    for rel in shown:
        name = Path(rel).name
        assert (ROOT / rel).is_file(), f"{rel} is missing (tests/browser writes it)"
        assert f'"{name}"' in made or name[len("workbench_"):-len(".png")] in shot, \
            f"{rel} is not one a browser test writes"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path, kernel_name, tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_name, timeout=300, startup_timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    before = _tensorboards()
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{path.name} raised:\n{e}")
    finally:
        for pid in set(_tensorboards()) - set(before):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    took = time.perf_counter() - start
    assert not _errors(nb), "\n".join(_errors(nb))
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code" and _text(c).strip())
    print(f"{path.name}: {took:.1f} s")
    if docs_notebooks.wanted():   # NBTRAIN_DOCS_NOTEBOOKS=1: refresh the executed copy in docs/notebooks/
        docs_notebooks.write_copy(nb, path)
