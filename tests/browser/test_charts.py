"""The dashboard's charts in chromium, on the dashboard's own front end (an exported page, no kernel): legends and
axis titles in English and Chinese, the tooltip's values at the pointer, one x-range for every chart (a zoom on one
moves the others), a constant LR as one line of text, the path of 10^5 points a few points per pixel column, and
(NBTRAIN_TIMING=1, quiet machine) the redraw with 10^5 points per curve under 16 ms (median of 10 redraws, each after
one more log point arrived, timed in the page)."""
import importlib.util
import os

import pytest
from chartcheck import axis_titles, hover_last_validation_point, legend, x_ranges, zoom_moves_every_chart
from conftest import ROOT

spec = importlib.util.spec_from_file_location("browser_draw", ROOT / "benchmarks" / "browser_draw.py")
browser_draw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browser_draw)


def _open(chromium, path):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page, errors


def test_legends_axis_titles_tooltip_and_a_shared_zoom(chromium, tmp_path):
    page, errors = _open(chromium, browser_draw.page_with(3000, tmp_path))
    live = page.locator(".nbtrain-live")
    assert legend(live, "loss") == legend(live, "accuracy") == ["train", "validation"]
    assert legend(live, "lr") == ["learning rate"]
    assert axis_titles(live, "loss") == ["step", "loss"] and axis_titles(live, "accuracy") == ["step", "accuracy"]
    assert axis_titles(live, "lr") == ["step", "learning rate"]
    steps, epochs = browser_draw.run_rows(3000)
    live.locator(".nbtrain-smooth").fill("0")                  # no smoothing: the tooltip shows the logged values
    tip = hover_last_validation_point(page, live)
    at = {r["step"]: r for r in steps}[tip["step"]]
    val = {r["step"]: r for r in epochs}[tip["step"]]          # the marker's step is an epoch end
    assert tip["rows"]["train"] == (pytest.approx(at["loss"], rel=1e-3), "")
    assert tip["rows"]["validation"] == (pytest.approx(val["val_loss"], rel=1e-3), "")
    guides = page.locator("svg.nbtrain-chart line.guide[visibility='visible']")
    assert guides.count() == 3                                 # the same step marked on every chart
    zoom_moves_every_chart(page, live, "accuracy")
    page.locator("svg.nbtrain-chart[data-key='lr']").dblclick()
    assert set(x_ranges(live).values()) == {(0, 3000 * 1.02)}  # every step again, on every chart
    page.locator(".nbtrain-chartbox[data-key='loss'] .nbtrain-key", has_text="validation").click()
    assert page.locator("svg.nbtrain-chart[data-key='loss'] path.val").count() == 0    # hidden from its legend
    assert page.locator(".nbtrain-chartbox[data-key='loss'] .nbtrain-key[aria-pressed='false']").count() == 1
    assert errors == []


def test_a_path_of_100k_points_is_a_few_points_per_pixel_column(chromium, tmp_path):
    page, errors = _open(chromium, browser_draw.page_with(100_000, tmp_path))
    for cls in ("train", "raw"):
        d = page.locator(f"svg.nbtrain-chart[data-key='loss'] path.{cls}").get_attribute("d")
        assert 300 < d.count("L") < 4 * 320, (cls, d.count("L"))    # 314 columns: first, last, lowest, highest
    tip = page.evaluate("() => document.querySelector('.nbtrain-live').nbtrainView.s.steps.length")
    assert tip == 100_000 and errors == []                          # every point kept for hover and export


def test_chinese_words_and_a_constant_lr_as_one_line(chromium, tmp_path):
    path = browser_draw.page_with(500, tmp_path, lang="zh", lr=[0.001, 0.01])
    page, errors = _open(chromium, path)
    live = page.locator(".nbtrain-live")
    assert live.get_attribute("lang") == "zh-CN"
    assert legend(live, "loss") == ["训练", "验证"] and axis_titles(live, "loss") == ["步数", "损失"]
    assert axis_titles(live, "accuracy") == ["步数", "准确率"]
    assert page.locator("svg.nbtrain-chart[data-key='lr']").count() == 0             # no chart for a constant LR
    assert page.locator(".nbtrain-lr-text").inner_text() == "学习率 参数组 0 0.001 · 参数组 1 0.01（恒定）"
    assert page.locator(".nbtrain-smooth-val").evaluate("e => e.closest('label').innerText.trim()") == "验证曲线也平滑"
    assert page.locator("svg.nbtrain-chart[data-key='loss']").get_attribute("aria-label") == "损失随训练步数的变化"
    assert errors == []


@pytest.mark.skipif(os.environ.get("NBTRAIN_TIMING") != "1",
                    reason="a wall-clock figure: NBTRAIN_TIMING=1 on a quiet machine (the project times nothing in CI)")
def test_a_redraw_with_100k_points_per_curve_takes_under_16_ms(chromium, tmp_path):
    """Wall time in a page holding what fit(log_every=1) leaves after 10^5 steps (every curve, a layer row per step,
    the insight panel): the median of 10 redraws, each what a kernel message runs after one more log point arrived
    (live.js's ``v.update()``: status, every chart, layer strip, insight panel, then the browser's layout), after a
    warm-up round of 10. Run it where the figure means something: NBTRAIN_TIMING=1, a quiet machine."""
    page, errors = _open(chromium, browser_draw.page_with(100_000, tmp_path, panels=True))
    r = page.evaluate(browser_draw.TIME_REDRAWS, 10)
    print(f"redraw at 10^5 points per curve: median {r['median']:.2f} ms, worst {r['worst']:.2f} ms, "
          f"first {r['first']:.1f} ms")
    assert r["points"] == 100_000 + 20                           # every point kept, the 20 that arrived too
    for cls in ("train", "raw"):
        d = page.locator(f"svg.nbtrain-chart[data-key='loss'] path.{cls}").get_attribute("d")
        assert d.count("L") < 4 * 320                            # a few points per pixel column, not 10^5
    assert page.locator("canvas.nbtrain-layer-strip").get_attribute("width") == "360"     # the strip was drawn
    assert r["median"] < 16, r
    assert errors == []
