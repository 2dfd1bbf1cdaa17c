"""notebooks/00_quickstart.ipynb in JupyterLab in chromium: the Workbench and the live dashboard as a user sees them.

Runs all cells from the Run menu, adds a layer (the summary changes), picks a scheduler (the LR curve changes),
clicks Train (loss curve and feature maps appear), clicks Stop (the run stops), and saves element screenshots into
docs/screenshots/ for the README. Then TensorBoard over the run's logdir shows the scalar charts.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

PlaywrightTimeout = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").TimeoutError

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

IMG_LOADED = "el => el.complete && el.naturalWidth > 0"


def _cell_output(page, i: int):
    """The output area of the i-th code cell of the open notebook."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(i).locator(".jp-Cell-outputArea")


def _tab(workbench, title: str) -> None:
    workbench.locator(".widget-tab .lm-TabBar-tab", has_text=title).first.click()


def _image_src(locator) -> str:
    return locator.evaluate("el => el.src")


def _wait_image_changed(page, locator, old: str, timeout: float = 60_000) -> None:
    """A picture's <img> is replaced when it changes (compat.Picture sets new HTML): re-find it until its src moved."""
    from playwright.sync_api import expect
    expect(locator).not_to_have_attribute("src", old, timeout=timeout)
    page.wait_for_function(IMG_LOADED, arg=locator.element_handle(), timeout=timeout)


def _button(scope, label: str):
    """The first button whose whole label is ``label`` (not one that only contains it: "Train" is not
    "Augmented training samples")."""
    return scope.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first


def test_quickstart_workbench_train_stop_and_tensorboard(lab, notebook, tensorboard_server):
    page = notebook.page
    page.set_viewport_size({"width": 1300, "height": 2600})   # the whole Workbench fits: Lab scrolls inside itself
    SHOTS.mkdir(parents=True, exist_ok=True)
    notebook.open("00_quickstart.ipynb")
    notebook.run_all()
    assert notebook.errors() == []

    workbench = _cell_output(page, 0)
    _tab(workbench, "Train")
    train, stop = _button(workbench, "Train"), workbench.locator("button.jupyter-button", has_text="Stop")
    assert train.evaluate("b => b.classList.contains('mod-success')")          # the Train button itself
    # cell 2 started a background run; the Workbench's Stop ends it, and Train comes back
    stop.first.evaluate("b => { if (!b.disabled) b.click(); }")   # it may have ended on its own already
    page.wait_for_function("el => !el.disabled", arg=train.element_handle(), timeout=120_000)

    # Model: add a layer, the summary (totals line) changes
    _tab(workbench, "Model")
    totals = workbench.locator(".widget-html", has_text="parameters (").first
    before = totals.inner_text()
    _button(workbench, "Add layer").click()
    page.wait_for_function("([el, old]) => el.innerText !== old", arg=[totals.element_handle(), before])
    after = totals.inner_text()
    count = lambda text: int(text.split("→ output")[1].split(";")[1].split("parameters")[0].replace(",", ""))
    assert count(after) > count(before), (before, after)
    workbench.screenshot(path=str(SHOTS / "workbench_model.png"))

    # Schedule: pick a scheduler, the LR curve changes
    _tab(workbench, "Schedule")
    curve = workbench.locator("img[src^='data:image/png']:visible").first   # compat.Picture: base64, no binary buffer
    page.wait_for_function(IMG_LOADED, arg=curve.element_handle())
    old = _image_src(curve)
    workbench.locator(".widget-dropdown", has_text="scheduler").first.locator("select").select_option(
        "CosineAnnealingLR")
    _wait_image_changed(page, curve, old)
    workbench.screenshot(path=str(SHOTS / "workbench_schedule.png"))

    # Train: the live dashboard shows the loss curve and the feature maps
    _tab(workbench, "Train")
    epochs = workbench.locator(".widget-text:visible").filter(
        has=page.get_by_text("epochs", exact=True)).first.locator("input")
    epochs.fill("20")                      # long enough that the run is still going when Pause is clicked
    epochs.press("Enter")
    page.wait_for_function("el => !el.disabled", arg=train.element_handle())
    train.click()
    # the live dashboard draws in the browser: an SVG chart of the numbers, canvas tiles for the feature maps
    curves = workbench.locator("svg.nbtrain-chart[data-key='loss']").first
    fmap = workbench.locator("canvas.nbtrain-fmap").first
    status = workbench.locator(".nbtrain-status")
    curves.wait_for(timeout=120_000)
    fmap.wait_for(timeout=120_000)
    # a few epochs in: validation points on the curves, epoch scalars in the logs for TensorBoard
    page.wait_for_function("el => /epoch ([5-9]|1[0-9])\\//.test(el.innerText)", arg=status.element_handle(),
                           timeout=240_000)
    dashboard = workbench.locator(".nbtrain-live").last
    # the layer pickers name the layer whose feature maps and kernels are drawn (not an empty selection)
    for kind in ("fmap", "kern"):
        select = dashboard.locator(f"select.nbtrain-pick-{kind}")
        assert select.evaluate("el => el.selectedIndex") == 0, kind
        assert select.evaluate("el => el.value") != "", kind
    assert fmap.evaluate("el => el.width > 0 && el.height > 0")
    # Pause holds the loop between batches, so the picture and the Stop below cannot race the end of the run
    _button(dashboard, "Pause").click()
    page.wait_for_function("el => el.innerText.includes('paused')", arg=status.element_handle(), timeout=60_000)
    dashboard.screenshot(path=str(SHOTS / "dashboard.png"))

    # Stop: the run ends after the batch in progress and says so; the dashboard stays, every panel and the Export
    # HTML link with it (the Train tab is an Output widget: the cell's display, and its picture, are the notebook's)
    _button(dashboard, "Stop").click()
    page.wait_for_function("el => !el.disabled", arg=train.element_handle(), timeout=60_000)
    workbench.locator(".widget-html", has_text="stopped by you at epoch").first.wait_for(timeout=60_000)
    dashboard = workbench.locator(".nbtrain-live").last
    dashboard.locator(".nbtrain-status", has_text="stopped").wait_for(timeout=60_000)
    assert dashboard.locator(".nbtrain-export").is_visible() and dashboard.locator(".nbtrain-pause").is_disabled()
    assert dashboard.locator("svg.nbtrain-chart[data-key='loss'] path.train").count() == 1
    text = workbench.locator(".nbtrain-status").filter(has_text="stopped").first.inner_text()
    assert text.endswith("stopped by you"), text                      # the Control's reason
    done, total = (int(x) for x in text.split("step ")[1].split(" ")[0].split("/"))
    assert 0 < done < total, text
    workbench.screenshot(path=str(SHOTS / "workbench_stopped.png"))
    assert notebook.errors() == []

    # TensorBoard over the run's logdir shows the scalar charts
    url = tensorboard_server(lab.root / "runs")
    page.set_viewport_size({"width": 1300, "height": 1000})
    page.goto(url + "#scalars")
    card = page.locator("tf-scalar-card").filter(has=page.get_by_text("epoch/val_loss", exact=True)).first
    card.wait_for(timeout=60_000)
    page.wait_for_function("el => el.shadowRoot !== null", arg=card.element_handle())
    card.locator("path.line").first.wait_for(state="attached", timeout=60_000)
    page.locator("tf-scalar-dashboard").screenshot(path=str(SHOTS / "tensorboard_scalars.png"))
