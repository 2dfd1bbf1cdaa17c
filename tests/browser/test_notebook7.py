"""A plain ``nb.fit(...)`` cell in Notebook 7 (``/notebooks/<name>.ipynb``) in chromium: while it runs the live
dashboard (an anywidget) draws its curves from numbers and updates them, with legends and axis titles, a tooltip at
the pointer with the run's numbers and one x-range for every chart (a zoom on one moves the others); a Stop click
reaches the busy kernel (Notebook 7 sends widget messages on a kernel subshell, as JupyterLab does) and the run stops
within one batch; the widget then stays, with its Export HTML link, and the notebook saved by the browser holds the
picture of every panel beside it, with no widget error on the page at any time (tests/browser/test_fit_cell.py does
the same in JupyterLab, with log scale, smoothing and a rerun).
"""
import json
import re

import nbformat
from chartcheck import (
    assert_every_panel_saved,
    axis_titles,
    hover_last_validation_point,
    legend,
    saved_pictures,
    tooltip_matches_the_run,
    zoom_moves_every_chart,
)
from conftest import SHOTS, copy_puts_the_shown_code_on_the_clipboard, spied_slow_fit
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
# Installed before the cell runs: notes any widget error text that appears, even for a moment (the cell's display
# is updated at the end, so a check afterwards alone could miss one).
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


def _charts_read_at_a_glance(page, out) -> dict:
    """Paused: legends, axis titles, the tooltip at a validation marker, a zoom moving both charts. The tooltip."""
    page.wait_for_function("el => el.querySelectorAll('svg.nbtrain-chart circle.dot.val').length >= 2",
                           arg=out.element_handle(), timeout=300_000)       # two epochs validated
    out.locator(".nbtrain-pause").click()
    page.wait_for_function("el => /paused/.test(el.innerText)", arg=out.locator(".nbtrain-status").element_handle())
    assert legend(out, "loss") == legend(out, "accuracy") == ["train", "validation"]
    assert axis_titles(out, "loss") == ["step", "loss"] and axis_titles(out, "accuracy") == ["step", "accuracy"]
    assert out.locator(".nbtrain-lr-text").inner_text() == "learning rate 0.001 (constant)"   # no chart for it
    tip = hover_last_validation_point(page, out)
    assert list(tip["rows"]) == ["train", "validation"], tip
    SHOTS.mkdir(parents=True, exist_ok=True)
    out.screenshot(path=str(SHOTS / "notebook7-fit.png"))    # paused, the tooltip at a validation marker
    zoom_moves_every_chart(page, out)
    out.locator(".nbtrain-pause").click()
    return tip


def test_notebook7_live_dashboard_charts_stop_click_and_the_saved_picture(notebook7, page):
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
    assert out.locator("button.nbtrain-pause").inner_text() == "Pause" and out.locator("button.nbtrain-stop").count() == 1
    tip = _charts_read_at_a_glance(page, out)
    page.wait_for_function("el => !/paused/.test(el.innerText)", arg=out.locator(".nbtrain-status").element_handle())
    out.locator(".nbtrain-stop").click()

    # ended: within one batch of the click; the widget stays (every panel, the Export HTML link)
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.innerText)",
                           arg=cell.locator(".jp-InputArea-prompt").element_handle(), timeout=300_000)
    res = json.loads(out.locator("[data-mime-type='application/vnd.jupyter.stdout']").inner_text())
    assert res["reason"] == "stopped by you" and res["got"]["thread"] != "MainThread", res
    assert res["final"] - res["got"]["step"] <= 1 and res["final"] < res["total"], res
    tooltip_matches_the_run(tip, res)
    assert out.locator(".nbtrain-live").count() == 1 and out.locator(".nbtrain-export").is_visible()
    page.wait_for_function("() => [...document.querySelectorAll('.nbtrain-status')].some(e => /stopped by you/.test("
                           "e.innerText))")
    assert out.locator("[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback").count() == 0

    # the notebook the browser saves holds the picture of every panel beside the widget's view
    page.keyboard.press("Control+s")
    [shown] = saved_pictures(notebook7.root / "fit_nb7.ipynb")
    assert_every_panel_saved(shown)
    assert shown["data"]["text/plain"].endswith("stopped: stopped by you")

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
