"""A plain ``nb.fit(...)`` cell in JupyterLab in chromium: when the run ends, on its own or by Stop, the cell's
output is the final PNG of the curves (what a saved notebook keeps), not the widgets and not an empty area."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """import time
import nbtrain as nb
spec = nb.TrainSpec.default()
spec.loop.epochs = 1"""

BACKGROUND = """long = nb.TrainSpec.default()
long.loop.epochs = 50
run = nb.fit(long, background=True)"""

STOP = """t = time.monotonic()
while (run.state is None or run.state.step < 5) and time.monotonic() - t < 120:
    time.sleep(0.1)
run.stop()
print("ended:", run.wait(120).stop_reason)"""

FINAL_PNG = "[data-mime-type='image/png'] img"


def _output(page, i: int):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(i).locator(".jp-Cell-outputArea")


def _assert_final_png(page, out) -> None:
    img = out.locator(FINAL_PNG)
    img.wait_for(timeout=120_000)
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    assert img.count() == 1
    width, height = img.evaluate("el => [el.naturalWidth, el.naturalHeight]")
    assert width > 300 and height > 100, (width, height)
    box = img.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, box
    assert out.locator(".widget-button").count() == 0          # the live widgets were replaced
    assert out.locator(".nbtrain-status").count() == 0


def test_a_fit_cell_ends_as_the_final_png_on_completion_and_on_stop(lab, notebook):
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell("h = nb.fit(spec)"), new_code_cell(BACKGROUND),
                             new_code_cell(STOP)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "fit_cell.ipynb")
    notebook.open("fit_cell.ipynb")
    notebook.run_all(timeout=300_000)
    page = notebook.page
    assert notebook.errors() == []
    assert "ended: stopped by you" in _output(page, 3).inner_text()
    _assert_final_png(page, _output(page, 1))       # the foreground run, on completion
    _assert_final_png(page, _output(page, 2))       # the background run, after Stop
