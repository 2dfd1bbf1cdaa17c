"""The Colab stand-in in a browser: classic Notebook 6.5 over .venv-colab (tools/colab_venv.sh: the Python Colab
runs, Colab's pins, nbtrain installed from its wheel), driven in chromium. Classic Notebook speaks the widgets-7
protocol, as Colab's widget manager does, and has no kernel subshells, as Colab has none.

One notebook, as a user goes through it: the Workbench shows its tabs' titles and a field's hover help; an edit of
the epochs field reaches the kernel; Train runs with a live dashboard; a Stop click ends a foreground
``nb.fit(spec)`` (the training thread takes the click from the kernel's queue: sinks/dashboard/inbox.py), the click
taking effect within 2 s and the loop stopping within a batch of it, with a checkpoint written; the notebook saved
afterwards keeps the final picture of the run (read back from the .ipynb).
"""
import base64
import io
import json
import re
import secrets
import subprocess

import nbformat
import pytest
import torch
from colab.profile import colab_python, user_env
from conftest import Lab, free_port, spied_slow_fit, stop, wait_http
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image

from nbtrain.i18n import t

SETUP = """import json, threading, time
import nbtrain as nb
from nbtrain.sinks.dashboard import Dashboard"""
WORKBENCH = "w = nb.Workbench(preview=False, lang='en')\nw"
EPOCHS = "print(json.dumps({'epochs': w.spec.loop.epochs}))"
LONG = "long = nb.TrainSpec.default()\n" + spied_slow_fit("long")
CELLS = [SETUP, WORKBENCH, EPOCHS, LONG]
NAME = "colab_classic.ipynb"
CHART_PATH = "svg.nbtrain-chart[data-key='loss'] path.train"


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    """Classic Notebook 6.5 from .venv-colab on 127.0.0.1 with a token and its own Jupyter dirs. The kernel is the
    venv's own (ipykernel 6.17.1) and imports the installed nbtrain: nothing from this checkout is on its path."""
    py = colab_python()
    base = tmp_path_factory.mktemp("classic")
    root = base / "root"
    root.mkdir()
    env = {**user_env(), "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_DATA_DIR": str(base / "data"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython")}
    port, token = free_port(), secrets.token_hex(16)
    log = base / "classic.log"
    cmd = [str(py), "-m", "notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--NotebookApp.token={token}", f"--NotebookApp.notebook_dir={root}", "--NotebookApp.port_retries=0"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield Lab(port, token, root)
    finally:
        stop(proc)


class Classic:
    """One classic-Notebook page, driven through its own JavaScript API (``Jupyter.notebook``)."""

    def __init__(self, page, server: Lab):
        self.page, self.server = page, server

    def open(self, name: str) -> None:
        self.page.goto(self.server.url(f"notebooks/{name}"))
        self.page.wait_for_function("() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && "
                                    "Jupyter.notebook.kernel.is_connected() && "
                                    "!!document.querySelector('#kernel_indicator_icon.kernel_idle_icon')",
                                    timeout=120_000)

    def run(self, i: int) -> None:
        self.page.evaluate("i => Jupyter.notebook.get_cell(i).execute()", i)

    def wait_done(self, i: int, timeout: float = 300_000) -> None:
        """The cell's prompt shows its execution count (not ``*``)."""
        self.page.wait_for_function("i => typeof Jupyter.notebook.get_cell(i).input_prompt_number === 'number'",
                                    arg=i, timeout=timeout)

    def output(self, i: int):
        """The cell's whole output (the Workbench's own Output widget is an output area inside it)."""
        return self.page.locator("#notebook-container .cell.code_cell").nth(i).locator(":scope > .output_wrapper")

    def stdout_json(self, i: int) -> dict:
        text = self.output(i).locator(".output_stdout").last.inner_text()
        return json.loads(text.strip().splitlines()[-1])

    def save(self) -> None:
        self.page.evaluate("() => Jupyter.notebook.save_notebook()")
        self.page.wait_for_function("() => !Jupyter.notebook.dirty", timeout=60_000)


def _tabs_titles_and_tooltips(out) -> None:
    labels = out.locator(".widget-tab").first.locator("[class*='TabBar-tabLabel']")
    assert labels.all_inner_texts() == ["Data", "Model", "Optimizer", "Schedule", "Train"]
    labels.nth(4).click()
    epochs = out.locator(".widget-label", has_text=re.compile(r"^epochs$"))
    epochs.hover()
    assert epochs.get_attribute("title") == "epochs: passes over the training set"
    assert out.locator("button", has_text=re.compile(r"^\s*Stop\s*$")).get_attribute("title") == t("stop.tip")


def _edit_epochs_then_train(nb, out) -> None:
    """Set epochs to 1 in the Train tab: the kernel's spec says 1; then Train draws a live dashboard."""
    field = out.locator(".widget-inline-hbox", has=nb.page.locator(".widget-label", has_text=re.compile(r"^epochs$")))
    field.locator("input").fill("1")
    field.locator("input").press("Enter")
    nb.run(2)
    nb.wait_done(2)
    assert nb.stdout_json(2) == {"epochs": 1}
    out.locator("button", has_text=re.compile(r"^\s*Train\s*$")).click()
    out.locator(CHART_PATH).wait_for(timeout=300_000)
    handle = out.element_handle()
    d = f"out => out.querySelector(\"{CHART_PATH}\")?.getAttribute('d') || ''"
    nb.page.wait_for_function(f"out => ({d})(out).includes('L')", arg=handle, timeout=300_000)
    first = nb.page.evaluate(d, handle)
    nb.page.wait_for_function(f"([out, old]) => ({d})(out) !== old", arg=[handle, first], timeout=300_000)


def _stop_click_ends_the_foreground_fit(nb, root) -> dict:
    out = nb.output(3)
    nb.run(3)
    nb.page.wait_for_function("el => { const m = /step (\\d+)\\//.exec(el.innerText); return m && +m[1] > 30; }",
                              arg=out.locator(".nbtrain-status").element_handle(timeout=300_000), timeout=300_000)
    button = out.locator(".nbtrain-stop")
    assert "once the running cell has ended" not in button.get_attribute("title")    # the click reaches the kernel
    clicked = nb.page.evaluate("() => Date.now()") / 1000
    button.click()
    assert re.fullmatch(r"stopping(…|\.\.\.)", button.inner_text().strip()), button.inner_text()
    nb.wait_done(3)
    res = nb.stdout_json(3)
    assert res["reason"] == "stopped by you" and res["final"] < res["total"], res
    assert res["got"]["thread"] == "MainThread", res        # taken by the training thread itself: no subshell here
    assert res["got"]["at"] - clicked <= 2.0, (res, clicked)     # the click took effect within 2 s
    assert res["final"] - res["got"]["step"] <= 1, res           # and the loop stopped within a batch of it
    taken, ended = res["got"]["at"] - clicked, res["ended"] - clicked
    print(f"Stop click taken after {taken:.2f} s; fit returned {ended:.2f} s after it")
    last = max(root.glob("checkpoints/*/last.pt"), key=lambda p: p.stat().st_mtime)
    assert torch.load(last, weights_only=True)["step"] == res["final"]
    return res


def _saved_final_picture(path) -> tuple[int, int]:
    nb = nbformat.read(path, as_version=4)
    pngs = [o["data"]["image/png"] for o in nb.cells[3].outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, nb.cells[3].outputs
    return Image.open(io.BytesIO(base64.b64decode(pngs[0]))).size


def test_colab_standin_workbench_train_and_foreground_stop(classic, page):
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), classic.root / NAME)
    nb = Classic(page, classic)
    nb.open(NAME)
    nb.run(0)
    nb.run(1)
    nb.wait_done(1)
    out = nb.output(1)
    out.locator(".widget-tab").first.wait_for(timeout=120_000)
    _tabs_titles_and_tooltips(out)
    _edit_epochs_then_train(nb, out)
    _stop_click_ends_the_foreground_fit(nb, classic.root)
    nb.save()
    width, height = _saved_final_picture(classic.root / NAME)
    assert width > 300 and height > 100, (width, height)
    assert page.locator(".output_area", has_text="Traceback").count() == 0
