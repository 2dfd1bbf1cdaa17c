"""A plain ``nb.fit(...)`` cell in Notebook 7 (``/notebooks/<name>.ipynb``) in chromium: while it runs the live
dashboard renders as core ipywidgets (status line, progress, buttons, curves image), and when it ends the cell's
output is the final PNG of the curves, with no widget error on the page at any time. Issue 6 promises Notebook 7
the same dashboard as JupyterLab (tests/browser/test_fit_cell.py)."""
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
GO = "fit_nb7.go"
# The Hold callback is the test's: a default run lasts about a second, shorter than the dashboard waits before its
# first live figure (first_after), so the loop waits at the end of the epoch (the render thread keeps drawing)
# until the test has seen the live widgets and creates GO. Without it the live view would race the run's end.
CELL = f"""import os, time
import nbtrain as nb

class Hold(nb.Callback):
    def on_epoch_end(self, state, logs):
        t = time.monotonic()
        while not os.path.exists({GO!r}) and time.monotonic() - t < 120:
            time.sleep(0.05)

spec = nb.TrainSpec.default()
spec.loop.epochs = 1
h = nb.fit(spec, callbacks=[Hold()])
print("epochs run:", len(h.epochs))"""
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


def _loaded_png(page, img, min_width=300, min_height=100) -> None:
    page.wait_for_function("([el, w, h]) => el.complete && el.naturalWidth > w && el.naturalHeight > h",
                           arg=[img.element_handle(), min_width, min_height])


def test_notebook7_shows_the_live_dashboard_then_the_final_png(notebook7, page):
    nb = new_notebook(cells=[new_code_cell(CELL)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, notebook7.root / "fit_nb7.ipynb")
    page.goto(notebook7.url("notebooks/fit_nb7.ipynb"))
    cell = page.locator(".jp-NotebookPanel .jp-CodeCell").first
    editor = cell.locator(".jp-InputArea-editor")
    editor.wait_for()
    page.wait_for_function(KERNEL_READY, timeout=120_000)
    page.evaluate(RECORD, list(WIDGET_ERRORS))
    editor.click()
    page.keyboard.press("Shift+Enter")

    # live: the status line counts steps, the progress bar and buttons are there, the curves image shows a PNG
    out = cell.locator(".jp-Cell-outputArea")
    status = out.locator(".nbtrain-status")
    status.wait_for(timeout=120_000)
    page.wait_for_function("el => /epoch 1\\/1 · step [1-9]\\d*\\/\\d+/.test(el.innerText)",
                           arg=status.element_handle(), timeout=120_000)
    curves = out.locator("img.nbtrain-curves")
    _loaded_png(page, curves)
    assert curves.get_attribute("src").startswith("blob:")
    for panel in ("fmap", "kern"):                                # feature maps and kernels, per layer picker
        _loaded_png(page, out.locator(f"img.nbtrain-{panel}"), 20, 20)
    # every image at its own size in this 1400-px page: not stretched (blurry), not squeezed into a corner
    for panel in ("curves", "fmap", "kern"):
        shown, natural = out.locator(f"img.nbtrain-{panel}").evaluate("el => [el.width, el.naturalWidth]")
        assert shown == natural, (panel, shown, natural)
    assert out.locator(".widget-hprogress").count() == 1
    assert sorted(out.locator(".widget-button").all_inner_texts()) == ["Pause", "Stop"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    out.screenshot(path=str(SHOTS / "notebook7-fit.png"))     # the live dashboard (the Hold harness left out)
    (notebook7.root / GO).touch()

    # ended: the prompt has its count, the line printed after fit() is there, the final PNG replaced the widgets
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.innerText)",
                           arg=cell.locator(".jp-InputArea-prompt").element_handle(), timeout=120_000)
    out.get_by_text("epochs run: 1").wait_for()
    img = out.locator("[data-mime-type='image/png'] img")
    img.wait_for()
    _loaded_png(page, img)
    assert img.count() == 1
    src = img.get_attribute("src")
    assert src.startswith("data:image/png;base64,") and len(src) > 10_000, (src[:40], len(src))
    box = img.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, box
    assert out.locator(".nbtrain-status").count() == 0
    assert out.locator(".widget-button").count() == 0
    assert out.locator("[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback").count() == 0

    assert page.evaluate("() => window.nbtrainErrors") == []
    text = page.locator("body").inner_text()
    assert [e for e in WIDGET_ERRORS if e in text] == [], text[-2000:]
    assert re.search(r"\[\d+\]", cell.locator(".jp-InputArea-prompt").inner_text())
