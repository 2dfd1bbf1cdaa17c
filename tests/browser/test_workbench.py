"""The Workbench in JupyterLab in chromium, driven by clicks only, at 1300 px with the file browser open (Lab's
default layout): the digits default (a compact Model tab, no element past its row, rows clear of the diagram, icon
glyphs drawn), every tab in light and dark theme, in English and Chinese (screenshots into docs/screenshots/), metrics
and device as pickers, Copy to the clipboard, the iris switch (no transform error, the MLP preset offered and
applied), a fix button, the LR finder's suggestion set from beside lr and beside max_lr, the diagram following the
rows."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from conftest import copy_puts_the_shown_code_on_the_clipboard
from nbformat.v4 import new_code_cell, new_notebook

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CELLS = ["from nbtrain.widgets import Workbench\nwb = Workbench(preview=False, background=True, lang='en')\nwb",
         "wbz = Workbench(preview=False, background=True, lang='zh')\nwbz"]
TABS = ("Data", "Model", "Optimizer", "Schedule", "Train")
TITLES = {"en": TABS, "zh": ("数据", "模型", "优化器", "学习率调度", "训练")}
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

# every visible child of a row's line on one line (same middle), none past the line's right edge, nothing scrolled
# or clipped; and inside them every input and label whole (not cut by its box)
ROW_FITS = """el => {
    const r = el.getBoundingClientRect();
    const kids = [...el.children].filter(k => k.offsetParent !== null && k.getBoundingClientRect().height > 0);
    const mids = kids.map(k => { const b = k.getBoundingClientRect(); return (b.top + b.bottom) / 2; });
    const parts = [...el.querySelectorAll('input, select, label, button, .widget-html-content')]
        .filter(p => p.offsetParent !== null);
    const cut = parts.filter(p => p.scrollWidth > p.clientWidth + 2 && p.tagName !== 'SELECT');
    const out = [...kids, ...parts].filter(k => k.getBoundingClientRect().right > r.right + 1);
    return {wraps: Math.max(...mids) - Math.min(...mids) > 6 || r.height > 40, cut: cut.map(p => p.outerHTML.slice(0, 80)),
            overflows: out.map(k => k.outerHTML.slice(0, 80)), scrolled: el.scrollWidth > el.clientWidth + 1,
            kids: kids.length};
}"""
# the boxes of the Model tab that clip or scroll their content sideways (a row list wider than its box, a diagram
# label cut), and how far the rows reach against the diagram's left edge
MODEL_FITS = """el => {
    const clipped = [...el.querySelectorAll('div')].filter(d => d.offsetParent !== null
        && getComputedStyle(d).overflowX !== 'visible' && d.scrollWidth > d.clientWidth + 1);
    const rows = [...el.querySelectorAll('.nbtrain-row')].map(r => r.getBoundingClientRect().right);
    const d = el.querySelector('.nbtrain-diagram'), diagram = d.getBoundingClientRect();
    return {clipped: clipped.map(d => `${d.className.slice(0, 40)}: ${d.innerText.slice(0, 40)} ${d.scrollWidth}>${d.clientWidth}`),
            rowsRight: Math.max(...rows),
            diagramLeft: diagram.left, diagramRight: diagram.right, right: el.getBoundingClientRect().right,
            diagramOver: d.scrollWidth > d.clientWidth + 1};
}"""


def _out(page, i: int):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(i).locator(".jp-Cell-outputArea")


def _tab(wb, title: str) -> None:
    tab = wb.locator(".lm-TabBar-tab", has_text=title).first
    tab.click()
    wb.page.wait_for_function("el => el.classList.contains('lm-mod-current')", arg=tab.element_handle())


# two animation frames: what the last change laid out has been painted (no CSS transitions in the Workbench)
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def _button(scope, label: str):
    """The first visible button whose whole label is ``label``."""
    return scope.locator("button.jupyter-button:visible", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first


def _field(scope, label: str):
    """The input of the visible field labelled ``label``."""
    return scope.locator(".widget-inline-hbox:visible", has=scope.page.get_by_text(label, exact=True)).first.locator(
        "input")


BACKGROUND = "() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color0')"


def _theme(page, name: str) -> None:
    """Lab's Settings > Theme > ``name``; back once the page's background colour has changed."""
    before = page.evaluate(BACKGROUND)
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    page.wait_for_function(f"old => ({BACKGROUND})() !== old", arg=before)
    page.wait_for_timeout(300)


def _wait_blocks(page, wb, n: int) -> None:
    """The diagram of this Workbench has ``n`` blocks."""
    page.wait_for_function("([el, n]) => el.querySelectorAll('.nbtrain-diagram [data-row]').length === n",
                           arg=[wb.element_handle(), n])


def _shoot(wb, name: str) -> None:
    wb.screenshot(path=str(SHOTS / f"workbench_{name}.png"))


def _check_model_tab(page, wb) -> None:
    """The default model at 1300 px: <= 450 px tall, every row on one line inside its box, clear of the diagram;
    a row's buttons (shown while it is hovered) drawn with their glyphs and inside the row too."""
    model = wb.locator(".nbtrain-model").first
    model.wait_for()
    page.mouse.move(0, 0)
    page.evaluate(PAINTED)
    height = model.bounding_box()["height"]
    assert height <= 450, f"Model tab is {height:.0f} px tall"
    fits = model.evaluate(MODEL_FITS)
    assert fits["clipped"] == [] and not fits["diagramOver"], fits
    assert fits["rowsRight"] <= fits["diagramLeft"] and fits["diagramRight"] <= fits["right"], fits
    rows = model.locator(".nbtrain-row-line")
    assert rows.count() == 10
    for i in range(rows.count()):
        fit = rows.nth(i).evaluate(ROW_FITS)
        assert not fit["wraps"] and not fit["overflows"] and not fit["cut"] and not fit["scrolled"], (i, fit)
        rows.nth(i).locator(".widget-dropdown").first.hover()
        hovered = rows.nth(i).evaluate(ROW_FITS)
        assert hovered["kids"] == fit["kids"] + 4 and not hovered["overflows"] and not hovered["cut"], (i, hovered)
        widths = rows.nth(i).locator("button i.fa").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().width)")
        assert len(widths) == 6 and min(widths) > 0, (i, widths)    # sliders, insert, up, down, duplicate, delete
    assert model.evaluate(MODEL_FITS)["rowsRight"] <= fits["diagramLeft"]
    assert page.evaluate("() => document.fonts.check('14px FontAwesome')")
    page.mouse.move(0, 0)
    _shoot(wb, "model_light_en")


def _shoot_every_tab(page, benches: dict, theme: str) -> None:
    """Each tab of each Workbench (en, zh) in ``theme``: workbench_<tab>_<theme>_<lang>.png."""
    for lang, wb in benches.items():
        wb.scroll_into_view_if_needed()
        for tab, title in zip(TABS, TITLES[lang]):
            _tab(wb, title)
            page.evaluate(PAINTED)
            if tab == "Schedule":                           # the LR curve, drawn when the tab is first opened
                img = wb.locator("img[src^='data:image/png']:visible").first   # compat.Picture
                page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
            _shoot(wb, f"{tab.lower()}_{theme}_{lang}")


def _beside(field, button) -> None:
    """``button`` on ``field``'s line, right after it."""
    f, b = field.bounding_box(), button.bounding_box()
    assert abs((f["y"] + f["height"] / 2) - (b["y"] + b["height"] / 2)) < 8, (f, b)
    assert 0 <= b["x"] - (f["x"] + f["width"]) < 200, (f, b)


def _lr_finder(page, wb) -> None:
    """Find LR beside the optimizer's lr; its one use button sets lr; beside max_lr (OneCycleLR) the same."""
    _tab(wb, "Optimizer")
    lr = _field(wb, "learning rate")
    find = _button(wb, "Find LR")
    _beside(lr, find)
    find.click()
    use = wb.locator(".nbtrain-finder:visible button", has_text=re.compile(r"^\s*use \d")).first
    use.wait_for(timeout=120_000)
    page.wait_for_function("el => !el.disabled", arg=use.element_handle())
    value = use.inner_text().strip().split(" ", 1)[1]
    assert wb.locator(".nbtrain-finder:visible button", has_text=re.compile(r"^\s*use ")).count() == 1
    _beside(lr, use)
    use.click()
    page.wait_for_function("([el, v]) => Number(el.value) === Number(v)", arg=[lr.element_handle(), value])
    _tab(wb, "Schedule")
    wb.locator(".widget-dropdown", has_text="scheduler").first.locator("select").select_option("OneCycleLR")
    max_lr = _field(wb, "max_lr")
    max_lr.wait_for()
    use = wb.locator(".nbtrain-finder:visible button", has_text=re.compile(rf"^\s*use {re.escape(value)}\s*$")).first
    _beside(max_lr, _button(wb, "Find LR"))
    _beside(max_lr, use)
    use.click()
    page.wait_for_function("([el, v]) => Number(el.value) === Number(v)", arg=[max_lr.element_handle(), value])


def test_workbench_by_clicks(lab, notebook):
    page = notebook.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.set_viewport_size({"width": 1300, "height": 1400})
    SHOTS.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "workbench.ipynb")
    notebook.open("workbench.ipynb")
    assert page.locator("#filebrowser").is_visible()        # Lab's default: the file browser takes its width
    notebook.run_all()
    assert notebook.errors() == []
    wb, wbz = _out(page, 0), _out(page, 1)

    # the digits default: one line per layer, a compact tab, every icon drawn, the rows clear of the diagram
    _tab(wb, "Model")
    _check_model_tab(page, wb)
    assert wb.locator(".nbtrain-diagram [data-row]").count() == 10

    # every tab, light and dark, English and Chinese
    _shoot_every_tab(page, {"en": wb, "zh": wbz}, "light")
    _theme(page, THEMES["dark"])
    _shoot_every_tab(page, {"en": wb, "zh": wbz}, "dark")
    _theme(page, THEMES["light"])
    assert wbz.get_by_text("轮数").count() >= 1 and wbz.get_by_text("寻找学习率").count() >= 1
    wb.scroll_into_view_if_needed()

    # Train tab: metrics and device are pickers, not text boxes; Copy puts the script on the clipboard
    _tab(wb, "Train")
    assert wb.locator("select[multiple]").count() == 1
    device = wb.locator(".widget-dropdown", has_text="device").first.locator("select")
    assert "cpu" in device.evaluate("el => [...el.options].map(o => o.value)")
    _button(wb, "Show code").click()
    copy_puts_the_shown_code_on_the_clipboard(page, wb)

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
    page.mouse.move(0, 0)
    _shoot(wb, "fix")
    assert train.is_disabled()                             # the error holds Train back until it is fixed
    fix.click()
    page.wait_for_function("el => !el.disabled", arg=train.element_handle())

    # the LR finder on iris: its suggestion set from beside lr, then beside max_lr
    _lr_finder(page, wb)
    _tab(wb, "Model")
    _button(wb, "Add layer").click()
    _wait_blocks(page, wb, 7)
    assert notebook.errors() == []
