"""The Workbench in JupyterLab in chromium, driven by clicks only: the digits default (compact Model tab, nothing
overflows, icon glyphs drawn), the iris switch (no transform error, the MLP preset offered and applied), a fix
button, the diagram following the rows, metrics and device as pickers, Copy to the clipboard, and the same in
Chinese. Screenshots of each tab (light and dark theme, en and zh) go to docs/screenshots/."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CELLS = ["from nbtrain.widgets import Workbench\nwb = Workbench(preview=False, background=True, lang='en')\nwb",
         "wbz = Workbench(preview=False, background=True, lang='zh')\nwbz"]
TABS = ("Data", "Model", "Optimizer", "Schedule", "Train")

# every child of a row's line on one line (same top), none past the line's right edge, nothing scrolled
ROW_FITS = """el => {
    const r = el.getBoundingClientRect();
    const kids = [...el.children].filter(k => k.offsetParent !== null && k.getBoundingClientRect().height > 0);
    const mids = kids.map(k => { const b = k.getBoundingClientRect(); return (b.top + b.bottom) / 2; });
    // and inside them: every input and label whole (not cut by its box)
    const parts = [...el.querySelectorAll('input, select, label, .widget-html-content')];
    const cut = parts.filter(p => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 2 && p.tagName !== 'SELECT');
    return {wraps: Math.max(...mids) - Math.min(...mids) > 6 || r.height > 40, cut: cut.map(p => p.outerHTML.slice(0, 80)),
            overflows: kids.some(k => k.getBoundingClientRect().right > r.right + 1) || el.scrollWidth > el.clientWidth + 1
                       || parts.some(p => p.getBoundingClientRect().right > r.right + 1)};
}"""


def _out(page, i: int):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(i).locator(".jp-Cell-outputArea")


def _tab(wb, title: str) -> None:
    wb.locator(".lm-TabBar-tab", has_text=title).first.click()


def _button(scope, label: str):
    """The first visible button whose whole label is ``label``."""
    return scope.locator("button.jupyter-button:visible", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first


def _theme(page, name: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    page.wait_for_timeout(1500)


def _wait_blocks(page, wb, n: int) -> None:
    """The diagram of this Workbench has ``n`` blocks."""
    page.wait_for_function("([el, n]) => el.querySelectorAll('.nbtrain-diagram [data-row]').length === n",
                           arg=[wb.element_handle(), n])


def _shoot(wb, name: str) -> None:
    wb.screenshot(path=str(SHOTS / f"workbench_{name}.png"))


def _check_model_tab(page, wb) -> None:
    model = wb.locator(".nbtrain-model").first
    model.wait_for()
    page.wait_for_timeout(500)
    _shoot(wb, "model")
    height = model.bounding_box()["height"]
    assert height <= 450, f"Model tab is {height:.0f} px tall"
    rows = model.locator(".nbtrain-row-line")
    assert rows.count() == 10
    for i in range(rows.count()):
        fit = rows.nth(i).evaluate(ROW_FITS)
        assert not fit["wraps"] and not fit["overflows"] and not fit["cut"], (i, fit)
    widths = model.locator("button i.fa").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    assert len(widths) >= 60 and min(widths) > 0, widths
    assert page.evaluate("() => document.fonts.check('14px FontAwesome')")


def test_workbench_by_clicks(lab, notebook):
    page = notebook.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.set_viewport_size({"width": 1300, "height": 1400})
    SHOTS.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "workbench.ipynb")
    notebook.open("workbench.ipynb")
    page.keyboard.press("Control+b")                       # close the file browser: the notebook gets the width
    notebook.run_all()
    assert notebook.errors() == []
    wb = _out(page, 0)

    # the digits default: one line per layer, a compact tab, every icon drawn
    _tab(wb, "Model")
    _check_model_tab(page, wb)
    diagram = wb.locator(".nbtrain-diagram [data-row]")
    assert diagram.count() == 10
    for title in TABS:
        _tab(wb, title)
        page.wait_for_timeout(700)
        _shoot(wb, title.lower())

    # Train tab: metrics and device are pickers, not text boxes; Copy puts the script on the clipboard
    _tab(wb, "Train")
    assert wb.locator("select[multiple]").count() == 1
    device = wb.locator(".widget-dropdown", has_text="device").first.locator("select")
    assert "cpu" in device.evaluate("el => [...el.options].map(o => o.value)")
    _button(wb, "Show code").click()
    copy = wb.locator("button.nbtrain-copy")
    copy.wait_for()
    copy.click()
    page.wait_for_timeout(500)
    clip = page.evaluate("() => navigator.clipboard.readText()")
    assert clip.startswith('"""Generated') and "def evaluate(net, loader):" in clip
    assert wb.locator("a.nbtrain-download[download='train.py']").count() == 1

    # iris: the image transforms go, no transform error, the MLP preset is offered and fixes the model
    _tab(wb, "Data")
    wb.locator(".widget-dropdown", has_text="dataset").first.locator("select").select_option("iris")
    wb.get_by_text("iris is a tabular set: image transforms cleared.").wait_for()
    assert wb.get_by_text("image transforms do not apply").count() == 0
    _shoot(wb, "iris")
    _button(wb, "Use MLP preset").click()
    train = wb.locator("button.jupyter-button.mod-success", has_text=re.compile(r"^\s*Train\s*$")).first
    page.wait_for_function("el => !el.disabled", arg=train.element_handle())
    _tab(wb, "Model")
    _wait_blocks(page, wb, 6)
    assert "input (4,) \u2192 output (3,)" in wb.locator(".nbtrain-model").first.inner_text()

    # a fix button fixes the error it names; the diagram marks the row at fault and follows the rows
    last = wb.locator(".nbtrain-row").nth(5)
    out = last.locator(".nbtrain-row-line input[type=number]").first
    out.fill("5")
    out.press("Enter")
    fix = _button(wb, "Set out_features to 3")
    fix.wait_for()
    _shoot(wb, "fix")
    assert train.is_disabled()                             # the error holds Train back until it is fixed
    fix.click()
    page.wait_for_function("el => !el.disabled", arg=train.element_handle())
    _button(wb, "Add layer").click()
    _wait_blocks(page, wb, 7)

    # dark theme, then the Chinese Workbench
    _theme(page, "JupyterLab Dark")
    _tab(wb, "Model")
    _shoot(wb, "model_dark")
    wbz = _out(page, 1)
    wbz.scroll_into_view_if_needed()
    _tab(wbz, "模型")
    _shoot(wbz, "model_zh_dark")
    _theme(page, "JupyterLab Light")
    for title in ("数据", "训练"):
        _tab(wbz, title)
        page.wait_for_timeout(500)
    assert wbz.get_by_text("轮数").count() >= 1
    _shoot(wbz, "train_zh")
    assert notebook.errors() == []
