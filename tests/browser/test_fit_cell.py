"""Plain ``nb.fit(...)`` cells in JupyterLab in chromium, with the live dashboard clicked as a user clicks it.

A short run, then a long one in the foreground (the kernel busy): its live view draws curves from numbers (SVG),
with legends (train, validation, the earlier run of the same data by its name) and axis titles; the tooltip at the
pointer shows the run's numbers at a step; a zoom on one chart moves the other; the log toggle and the smoothing
slider redraw; Pause and Stop clicks reach the busy kernel (JupyterLab sends widget messages on a kernel subshell)
and the run stops within one batch of the click. The layer panel (per-layer gradient norms at log points) and the
confusion panel (each epoch's validation) update while the run is live. Every run's widget stays when it ends, with
its Export HTML link, and the notebook the browser saves holds the picture of every panel beside each of them. A
background run stopped with ``run.stop()`` ends the same way.
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
from conftest import SHOTS, cell_output, spied_slow_fit
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """import json, threading, time
import nbtrain as nb
from nbtrain.sinks.dashboard import Dashboard
spec = nb.TrainSpec.default()
spec.loop.epochs = 1"""

LONG = "long = nb.TrainSpec.default()\n" + spied_slow_fit("long")

BACKGROUND = """run = nb.fit(long, background=True)"""

STOP = """t = time.monotonic()
while (run.state is None or run.state.step < 5) and time.monotonic() - t < 120:
    time.sleep(0.1)
run.stop()
print("ended:", run.wait(120).stop_reason)"""

CHART = "svg.nbtrain-chart[data-key='loss']"


_output = cell_output


def _assert_widget_stays(out) -> None:
    """An ended run's dashboard: still the live widget, with its Export HTML link."""
    assert out.locator(".nbtrain-live").count() == 1 and out.locator(".nbtrain-export").is_visible()
    assert out.locator(".nbtrain-stop").is_disabled()


# Waits query the page afresh each time: the charts are redrawn (new elements) at every update.
IN_CELL = "(i, sel) => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')[i]" \
          "?.querySelector('.jp-Cell-outputArea ' + sel)"
D_OF = f"([i, sel]) => (({IN_CELL})(i, sel)?.getAttribute('d') || '')"


def _path(out, cls: str) -> str:
    return out.locator(f"{CHART} path.{cls}").first.get_attribute("d") or ""


def _wait_d(page, cell: int, cls: str, test: str, arg, timeout=180_000) -> str:
    """Wait until the d attribute of the loss chart's ``path.<cls>`` passes ``test`` (JS, given d and arg)."""
    page.wait_for_function(f"([i, sel, arg]) => {{ const d = ({D_OF})([i, sel]); return {test}; }}",
                           arg=[cell, f"{CHART} path.{cls}", arg], timeout=timeout)
    return page.evaluate(D_OF, [cell, f"{CHART} path.{cls}"])


def _status(page, cell: int, pattern: str, timeout=180_000) -> None:
    page.wait_for_function(f"([i, re]) => new RegExp(re).test(({IN_CELL})(i, '.nbtrain-status')?.innerText || '')",
                           arg=[cell, pattern], timeout=timeout)


def _text(page, cell: int, sel: str) -> str:
    return page.evaluate(f"([i, sel]) => ({IN_CELL})(i, sel)?.innerText || ''", [cell, sel])


def _wait_text_change(page, cell: int, sel: str, timeout=180_000) -> str:
    """Wait until ``sel`` in the cell's output has some text, then until that text changes; return the new text."""
    page.wait_for_function(f"([i, sel]) => !!(({IN_CELL})(i, sel)?.innerText || '').trim()", arg=[cell, sel],
                           timeout=timeout)
    old = _text(page, cell, sel)
    page.wait_for_function(f"([i, sel, old]) => (({IN_CELL})(i, sel)?.innerText || '') !== old", arg=[cell, sel, old],
                           timeout=timeout)
    return _text(page, cell, sel)


def _watch_panels(page, out) -> None:
    """The layer panel and the confusion panel draw from numbers and change while the run is live."""
    layers = _wait_text_change(page, 2, ".nbtrain-layer-last")          # the latest gradient norm of each layer
    assert len(layers.split()) == 4 and all(float(v) > 0 for v in layers.split()), layers    # 2 convs, 2 linears
    names = out.locator(".nbtrain-layer-names div").all_inner_texts()
    assert names == ["0 Conv2d", "3 Conv2d", "7 Linear", "9 Linear"], names
    title = _wait_text_change(page, 2, ".nbtrain-insight-title")        # a new epoch's validation
    assert re.fullmatch(r"confusion matrix \(validation, epoch \d+; rows: true, columns: predicted\)", title), title
    assert out.locator(".nbtrain-perclass tr").count() == 11                # a header and the 10 digits
    assert out.locator("canvas.nbtrain-confusion").evaluate("c => c.width") > 100
    panels = out.locator(".nbtrain-panels").bounding_box()
    for tile in ("canvas.nbtrain-fmap", "canvas.nbtrain-kern"):             # below the tiles, not over them
        box = out.locator(tile).bounding_box()
        assert panels["y"] >= box["y"] + box["height"] - 1, (tile, box, panels)


def _watch_live(page, out) -> None:      # out: the output of cell 2
    """The live view draws and updates from numbers; hover, log toggle and smoothing redraw in the browser."""
    out.locator(CHART).wait_for(timeout=300_000)              # a loaded 2-core machine: minutes, not seconds
    assert out.locator(".nbtrain-placeholder").is_hidden()
    first = _wait_d(page, 2, "train", "d.includes('L')", None)              # a line, not one point
    _wait_d(page, 2, "train", "d !== arg", first)           # live: values change between two reads
    assert len(_path(out, "past")) > 10                     # the earlier run of this session, faintly
    text = out.locator(CHART + " text.planned").text_content()
    assert re.fullmatch(r"→ 920 steps planned", text), text  # x fits the data; the plan is a note
    names = legend(out, "loss")                             # the earlier run of this session, by its name
    assert len(names) == 3 and names[0].endswith(" (earlier)") and names[1:] == ["train", "validation"], names
    assert axis_titles(out, "loss") == ["step", "loss"] and axis_titles(out, "accuracy") == ["step", "accuracy"]
    _watch_panels(page, out)
    out.locator(".nbtrain-pause").click()                   # the kernel is busy: the click goes over a subshell
    _status(page, 2, "paused")
    still = _path(out, "train")
    page.wait_for_function("el => el.querySelectorAll('circle.dot.val').length >= 1",
                           arg=out.locator(CHART).element_handle(), timeout=60_000)
    tip = hover_last_validation_point(page, out)            # the pointer on a validation marker
    assert list(tip["rows"]) == [names[0], "train", "validation"], tip
    zoom_moves_every_chart(page, out)
    out.locator(CHART).dblclick()                           # every step again
    out.locator(".nbtrain-log").check()
    logged = _path(out, "train")
    assert logged != still                                  # the log scale redraws
    out.locator(".nbtrain-smooth").fill("0")
    assert _path(out, "train") not in (still, logged)       # smoothing 0: the raw values
    out.screenshot(path=str(SHOTS / "dashboard.png"))
    out.locator(".nbtrain-pause").click()
    _status(page, 2, r"^(?!.*paused)")
    return tip


def test_fit_cells_live_view_clicks_and_final_pngs(lab, notebook):
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell("h = nb.fit(spec)"), new_code_cell(LONG),
                             new_code_cell(BACKGROUND), new_code_cell(STOP)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "fit_cell.ipynb")
    page = notebook.page
    page.set_viewport_size({"width": 1400, "height": 1700})    # the whole live dashboard on screen (screenshot)
    notebook.open("fit_cell.ipynb")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    out = _output(page, 2)
    seen = _watch_live(page, out)
    tip = out.locator(".nbtrain-stop").get_attribute("title")
    assert tip.startswith("Stop after the batch in progress") and "subshell" not in tip    # reaches a busy kernel
    _status(page, 2, r"step (1\d\d|[5-9]\d)/")              # a while after the resume
    out.locator(".nbtrain-stop").click()
    notebook.wait_idle(300_000)
    assert notebook.errors() == []
    res = json.loads(_output(page, 2).locator("[data-mime-type='application/vnd.jupyter.stdout']").inner_text())
    assert res["reason"] == "stopped by you" and res["got"]["thread"] != "MainThread"
    assert res["final"] - res["got"]["step"] <= 1 and res["final"] < res["total"], res   # within one batch
    tooltip_matches_the_run(seen, res)                       # the tooltip showed the kernel's numbers at that step
    _output(page, 4).get_by_text("ended: stopped by you").wait_for(timeout=300_000)    # the background run
    notebook.wait_idle(300_000)
    for i in (1, 2, 3):                                      # foreground done, foreground stopped, background
        _assert_widget_stays(_output(page, i))
    page.keyboard.press("Control+s")                         # what the browser saves: a picture beside each widget
    for o in saved_pictures(lab.root / "fit_cell.ipynb", 3):
        assert_every_panel_saved(o)
