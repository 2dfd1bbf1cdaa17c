"""JupyterLab with "Kernel Comms over subshells" set to Disabled (Settings > Advanced Settings > Kernel; the
``commsOverSubshells`` setting of @jupyterlab/apputils-extension:kernels-settings): widget messages then wait on the
kernel's main shell behind the running cell, as in Colab, VS Code and the classic Notebook. The session's JupyterLab
serves it, the setting put in its user settings for this test (a page opened after that takes it) and set back after. A Stop click on the live
dashboard of a foreground ``nb.fit(spec)`` still ends it: the button says "stopping…" at once, the training thread
takes the click from the kernel's queue (sinks/dashboard/inbox.py) within 2 s, and the loop stops within a batch.
"""
import json
import re
import urllib.request

import nbformat
import pytest
from conftest import Notebook, cell_output, spied_slow_fit
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """import json, threading, time
import nbtrain as nb
from nbtrain.sinks.dashboard import Dashboard"""
LONG = "long = nb.TrainSpec.default()\n" + spied_slow_fit("long")
KERNELS = "lab/api/settings/@jupyterlab/apputils-extension:kernels-settings"


def _settings(lab, raw: dict) -> dict:
    """PUT ``raw`` as the user settings of Lab's kernel settings; the settings the server then reports."""
    req = urllib.request.Request(lab.url(KERNELS), data=json.dumps({"raw": json.dumps(raw)}).encode(), method="PUT",
                                 headers={"Content-Type": "application/json", "Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (200, 204), r.status
    with urllib.request.urlopen(lab.url(KERNELS), timeout=30) as r:
        return json.loads(r.read())["settings"]


@pytest.fixture
def lab_no_subshells(lab):
    """The session's JupyterLab with "Kernel Comms over subshells" disabled in its user settings, for one test."""
    assert _settings(lab, {"commsOverSubshells": "disabled"})["commsOverSubshells"] == "disabled"
    try:
        yield lab
    finally:
        _settings(lab, {})                          # the server's settings outlive this test


def test_stop_click_ends_a_foreground_fit_without_subshells(lab_no_subshells, page):
    nbformat.write(new_notebook(cells=[new_code_cell(SETUP), new_code_cell(LONG)],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}),
                   lab_no_subshells.root / "no_subshells.ipynb")
    notebook = Notebook(page, lab_no_subshells)
    notebook.open("no_subshells.ipynb")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    out = cell_output(page, 1)
    page.wait_for_function("el => { const m = /step (\\d+)\\//.exec(el.innerText); return m && +m[1] > 30; }",
                           arg=out.locator(".nbtrain-status").element_handle(timeout=300_000), timeout=300_000)
    button = out.locator(".nbtrain-stop")
    assert "once the running cell has ended" not in button.get_attribute("title")    # the click reaches the kernel
    clicked = page.evaluate("() => Date.now()") / 1000
    button.click()
    assert re.fullmatch(r"stopping(…|\.\.\.)", button.inner_text().strip()), button.inner_text()    # at once
    notebook.wait_idle(300_000)
    assert notebook.errors() == []
    res = json.loads(out.locator("[data-mime-type='application/vnd.jupyter.stdout']").inner_text())
    assert res["reason"] == "stopped by you" and res["final"] < res["total"], res
    assert res["got"]["thread"] == "MainThread", res     # no subshell brought it: the training thread took it
    assert res["got"]["at"] - clicked <= 2.0, (res, clicked)
    assert res["final"] - res["got"]["step"] <= 1, res
    taken, ended = res["got"]["at"] - clicked, res["ended"] - clicked
    print(f"Stop click taken after {taken:.2f} s; fit returned {ended:.2f} s after it")
