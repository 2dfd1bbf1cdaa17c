"""A plain ``nb.fit(...)`` cell in Notebook 7 (``/notebooks/<name>.ipynb``) in chromium: while it runs the live
dashboard (an anywidget) draws its curves from numbers and updates them; a Stop click reaches the busy kernel (Notebook
7 sends widget messages on a kernel subshell, as JupyterLab does) and the run stops within one batch; the cell's
output is then the final PNG of the curves, with no widget error on the page at any time (tests/browser/test_fit_cell.py
does the same in JupyterLab, with hover, log scale, smoothing, Pause and a rerun).
"""
import json
import re

import nbformat
from conftest import SHOTS, copy_puts_the_shown_code_on_the_clipboard, spied_slow_fit
from conftest import loaded_png as _loaded_png
from nbformat.v4 import new_code_cell, new_notebook

CELL = """import json, threading, time
import nbtrain as nb
from nbtrain.sinks.dashboard import Dashboard

spec = nb.TrainSpec.default()
""" + spied_slow_fit("spec")
WIDGET_ERRORS = ("Error displaying widget", "Failed to load model class", "model not found")

# The kernel is started and connected: before that the indicator reads "idle" beside "No Kernel" for a moment, and a
# cell run then is dropped (its prompt stays "[ ]").
KERNEL_READY = """() => {
    const name = document.querySelector('.jp-KernelName');
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return !!name && !!status && /python/i.test(name.innerText) && status.dataset.status === 'idle';
}"""
# Installed before the cell runs: notes any widget error text that appears, even for a moment (the dashboard's
# widgets are swapped for the final PNG at the end, so a check afterwards alone could miss one).
RECORD = """errors => {
    const seen = window.nbtrainErrors = [];
    new MutationObserver(records => {
        for (const r of records) {
            const nodes = r.type === 'characterData' ? [r.target] : [...r.addedNodes];
            for (const n of nodes) {
                const text = n.textContent || '';
                for (const e of errors) if (text.includes(e)) seen.push(text.slice(0, 300));
            }
        }
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def _open_one_cell_notebook(notebook7, page, name: str, source: str):
    """Write a one-cell notebook, open it in Notebook 7 and wait for its kernel: (the cell, its editor)."""
    nb = new_notebook(cells=[new_code_cell(source)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, notebook7.root / name)
    page.goto(notebook7.url(f"notebooks/{name}"))
    cell = page.locator(".jp-NotebookPanel .jp-CodeCell").first
    editor = cell.locator(".jp-InputArea-editor")
    editor.wait_for()
    page.wait_for_function(KERNEL_READY, timeout=120_000)
    return cell, editor


CHART_D = """cell => cell.querySelector("svg.nbtrain-chart[data-key='loss'] path.train")?.getAttribute('d') || ''"""


def test_notebook7_live_dashboard_stop_click_then_the_final_png(notebook7, page):
    cell, editor = _open_one_cell_notebook(notebook7, page, "fit_nb7.ipynb", CELL)
    page.evaluate(RECORD, list(WIDGET_ERRORS))
    editor.click()
    page.keyboard.press("Shift+Enter")

    # live: the status line counts steps, the curves are an SVG path that grows between two reads
    out = cell.locator(".jp-Cell-outputArea")
    out.locator(".nbtrain-status").wait_for(timeout=300_000)
    handle = cell.element_handle()
    page.wait_for_function(f"cell => ({CHART_D})(cell).includes('L')", arg=handle, timeout=300_000)
    first = page.evaluate(CHART_D, handle)
    page.wait_for_function(f"([cell, old]) => ({CHART_D})(cell) !== old", arg=[handle, first], timeout=180_000)
    assert out.locator("canvas.nbtrain-fmap").count() == 1 and out.locator("canvas.nbtrain-kern").count() == 1
    assert sorted(out.locator("button").all_inner_texts()) == ["Pause", "Stop"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    out.screenshot(path=str(SHOTS / "notebook7-fit.png"))
    out.locator(".nbtrain-stop").click()

    # ended: within one batch of the click, and the final PNG replaced the widget
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.innerText)",
                           arg=cell.locator(".jp-InputArea-prompt").element_handle(), timeout=300_000)
    res = json.loads(out.locator("[data-mime-type='application/vnd.jupyter.stdout']").inner_text())
    assert res["reason"] == "stopped by you" and res["got"]["thread"] != "MainThread", res
    assert res["final"] - res["got"]["step"] <= 1 and res["final"] < res["total"], res
    img = out.locator("[data-mime-type='image/png'] img")
    img.wait_for()
    _loaded_png(page, img)
    assert img.count() == 1
    src = img.get_attribute("src")
    assert src.startswith("data:image/png;base64,") and len(src) > 10_000, (src[:40], len(src))
    box = img.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, box
    assert out.locator(".nbtrain-live").count() == 0
    assert out.locator("[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback").count() == 0

    assert page.evaluate("() => window.nbtrainErrors") == []
    text = page.locator("body").inner_text()
    assert [e for e in WIDGET_ERRORS if e in text] == [], text[-2000:]
    assert re.search(r"\[\d+\]", cell.locator(".jp-InputArea-prompt").inner_text())


WORKBENCH = "from nbtrain.widgets import Workbench\nwb = Workbench(preview=False, background=True, lang='en')\nwb"


def test_notebook7_workbench_copy_puts_the_script_on_the_clipboard(notebook7, page):
    """The Workbench's Copy (an anywidget button) in Notebook 7: the clipboard then holds the script Show code shows."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    cell, editor = _open_one_cell_notebook(notebook7, page, "wb_nb7.ipynb", WORKBENCH)
    editor.click()
    page.keyboard.press("Shift+Enter")
    out = cell.locator(".jp-Cell-outputArea")
    out.locator(".lm-TabBar-tab", has_text="Train").first.click()
    out.locator("button.jupyter-button", has_text=re.compile(r"^\s*Show code\s*$")).first.click()
    copy_puts_the_shown_code_on_the_clipboard(page, out)
    assert [e for e in WIDGET_ERRORS if e in page.locator("body").inner_text()] == []
