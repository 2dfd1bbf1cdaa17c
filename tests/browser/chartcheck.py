"""What a reader checks on the live dashboard's charts, in any page that shows one (JupyterLab, Notebook 7, an
exported page): the legend entries and axis titles, the tooltip at the pointer, and a zoom on one chart moving the
others. ``scope`` is a playwright locator around one dashboard."""
from __future__ import annotations

import re

import pytest


def chart(scope, key: str):
    return scope.locator(f"svg.nbtrain-chart[data-key='{key}']").first


def legend(scope, key: str) -> list[str]:
    """The legend entries of the chart of ``key``, in order."""
    return [t.strip() for t in scope.locator(f".nbtrain-chartbox[data-key='{key}'] .nbtrain-key").all_inner_texts()]


def axis_titles(scope, key: str) -> list[str]:
    """[x title, y title] of the chart of ``key``."""
    return [chart(scope, key).locator(f"text.axis-title.{a}").text_content() for a in ("x", "y")]


def hover_last_validation_point(page, scope, key: str = "loss") -> dict:
    """Move the pointer onto the chart's last validation marker; return the tooltip: ``{"step": int, "rows":
    {name: (value, extra)}}`` as read from its text."""
    svg = chart(scope, key)
    svg.scroll_into_view_if_needed()
    cx, cy = svg.evaluate("s => { const c = [...s.querySelectorAll('circle.dot.val')].map(e => [+e.getAttribute('cx'), "
                          "+e.getAttribute('cy')]); c.sort((a, b) => b[0] - a[0]); return c[0]; }")
    box, (vw, vh) = svg.bounding_box(), [float(v) for v in svg.get_attribute("viewBox").split()[2:]]
    page.mouse.move(box["x"] + cx * box["width"] / vw, box["y"] + cy * box["height"] / vh)
    tip = scope.locator(f".nbtrain-chartbox[data-key='{key}'] .nbtrain-tip")
    tip.wait_for(state="visible")
    return read_tip(tip)


def read_tip(tip) -> dict:
    step = int(re.fullmatch(r"\S+ (\d+)", tip.locator(".nbtrain-tip-step").inner_text().strip())[1])
    rows = {}
    for row in tip.locator(".nbtrain-tip-row").all():
        name = row.locator(".nbtrain-tip-name").inner_text().strip()
        extra = row.locator(".nbtrain-tip-extra")
        rows[name] = (float(row.locator(".nbtrain-tip-value").inner_text()),
                      extra.inner_text().strip() if extra.count() else "")
    return {"step": step, "rows": rows}


def x_ranges(scope) -> dict:
    """{chart key: (x0, x1)} of every curve chart shown."""
    out = {}
    for svg in scope.locator("svg.nbtrain-chart").all():
        out[svg.get_attribute("data-key")] = (float(svg.get_attribute("data-x0")), float(svg.get_attribute("data-x1")))
    return out


def drag_zoom(page, scope, key: str, frm: float = 0.3, to: float = 0.6) -> None:
    """Drag across the chart of ``key`` from ``frm`` to ``to`` of its plot width (a zoom to those steps)."""
    svg = chart(scope, key)
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * frm, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (frm + to) / 2, y, steps=3)
    page.mouse.move(box["x"] + box["width"] * to, y, steps=3)
    page.mouse.up()


def zoom_moves_every_chart(page, scope, key: str = "loss") -> dict:
    """Zoom on one chart: every curve chart then shows the same, narrower x-range; a double-click shows all again."""
    before = x_ranges(scope)
    assert len(before) >= 2 and len(set(before.values())) == 1, before           # one shared range
    drag_zoom(page, scope, key)
    page.wait_for_function("([el, x1]) => +el.getAttribute('data-x1') !== x1",
                           arg=[chart(scope, key).element_handle(), before[key][1]])
    after = x_ranges(scope)
    assert len(set(after.values())) == 1, after                                 # the others moved with it
    (a0, a1), (b0, b1) = after[key], before[key]
    assert b0 < a0 < a1 < b1 and (a1 - a0) < 0.5 * (b1 - b0), (before, after)
    return after


def tooltip_matches_the_run(tip: dict, res: dict) -> None:
    """The tooltip read at a validation marker shows the kernel's numbers at that step: the validation loss of the
    epoch that ended there, and the raw training loss logged there (the smoothed value beside it)."""
    val = dict(map(tuple, res["val_loss"]))[tip["step"]]
    loss = dict(map(tuple, res["loss"]))
    assert tip["rows"]["validation"][0] == pytest.approx(val, rel=1e-3), (tip, val)
    value, extra = tip["rows"]["train"]
    raw = float(re.fullmatch(r"\(raw ([-\d.e+]+)\)", extra)[1]) if extra else value
    assert raw == pytest.approx(loss[tip["step"]], rel=1e-3), (tip, loss[tip["step"]])


def saved_outputs(path) -> list:
    """The display outputs of every code cell of the .ipynb at ``path`` (as the front end saved it)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o["output_type"] == "display_data"]


def assert_every_panel_saved(output: dict, min_height: int = 400) -> None:
    """A saved dashboard display: the widget's view, the picture of every panel (a second row: taller than the
    curves alone) and the status line."""
    import base64
    import io

    from PIL import Image
    data = output["data"]
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(data), set(data)
    img = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
    assert img.width >= 900 and img.height >= min_height, img.size


def saved_pictures(path, n: int = 1, timeout: float = 60) -> list:
    """The display outputs with a PNG in the notebook at ``path``, once the front end has saved ``n`` of them."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = [o for o in saved_outputs(path) if "image/png" in o["data"]]
        except Exception:  # noqa: BLE001 - a file being written: read it again
            found = []
        if len(found) >= n or time.monotonic() > deadline:
            assert len(found) == n, f"{path}: {len(found)} saved pictures, not {n}"
            return found
        time.sleep(0.5)
