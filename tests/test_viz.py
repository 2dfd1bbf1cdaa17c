import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from nbtrain import viz


def _img(png: bytes):
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png))


def _not_blank(img) -> bool:
    return len(np.unique(np.asarray(img.convert("L")))) > 10


def test_ema_is_debiased_and_skips_nan():
    assert viz.ema([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    out = viz.ema([1.0, float("nan"), 3.0], alpha=0.5)
    assert out[0] == 1.0 and math.isnan(out[1])
    assert out[2] == pytest.approx((0.25 * 1 + 0.5 * 3) / 0.75)


def test_metric_keys_put_loss_first_and_fold_val():
    rows = [{"step": 2, "accuracy": 0.5, "loss": 1.0, "lr": 0.1}, {"val_loss": 0.9, "val_top5": 1.0, "epoch": 0}]
    assert viz.metric_keys(rows) == ["loss", "accuracy", "top5"]


def test_curves_figure_draws_each_series_and_the_plan():
    steps = [{"step": s, "loss": 1 / s, "accuracy": s / 10} for s in range(1, 11)]
    epochs = [{"step": 5, "loss": 0.3, "val_loss": 0.4, "val_accuracy": 0.6},
              {"step": 10, "loss": 0.1, "val_loss": 0.2, "val_accuracy": 0.8}]
    plan = [[0.1] * 5 + [0.01] * 5, [0.2] * 10]
    lrs = [[0.1, 0.2]] * 5
    fig = viz.curves_figure(steps, epochs, ["loss", "accuracy"], [0, 1, 2, 3, 4], lrs, plan, title="t", smooth=0)
    loss_ax, acc_ax, lr_ax = fig.axes
    raw, smooth, ep, val = loss_ax.lines
    assert list(raw.get_xdata()) == list(range(1, 11)) and list(smooth.get_ydata()) == [1 / s for s in range(1, 11)]
    assert list(val.get_ydata()) == [0.4, 0.2] and list(ep.get_xdata()) == [5, 10]
    assert list(acc_ax.lines[3].get_ydata()) == [0.6, 0.8]
    planned0, actual0, planned1, actual1 = lr_ax.lines
    assert list(planned0.get_ydata()) == plan[0] and list(actual1.get_ydata()) == [0.2] * 5
    assert planned0.get_alpha() == 0.3 and actual0.get_alpha() is None     # the plan is drawn faintly
    img = _img(viz.to_png(fig))
    assert img.size == (900, 270) and _not_blank(img)


def test_curves_plot_updates_in_place_and_the_png_changes():
    cp = viz.CurvesPlot(["loss"], 1)
    fig = cp.fig
    a = viz.to_png(cp.update([{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}], [], [1, 2], [[0.1], [0.1]]).fig)
    b = viz.to_png(cp.update([{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}, {"step": 3, "loss": 2.0}], [],
                             [1, 2, 3], [[0.1], [0.1], [0.05]]).fig)
    assert cp.fig is fig and a != b
    assert _not_blank(_img(a)) and _img(b).size == _img(a).size


def test_feature_and_kernel_grids_have_make_grid_shapes():
    fm = torch.randn(1, 6, 4, 4)
    g = viz.feature_grid(fm)
    assert g.shape == (3, 1 + 5, 1 + 5 * 6)
    assert g.min() >= 0 and g.max() <= 1
    k = viz.kernel_grid(torch.randn(10, 4, 3, 3))          # first input channel, 8 per row
    assert k.shape == (3, 1 + 4 * 2, 1 + 4 * 8)
    rgb = viz.kernel_grid(torch.randn(2, 3, 5, 5))
    assert rgb.shape == (3, 7, 13) and not torch.equal(rgb[0], rgb[1])   # kept as colour


def test_grid_png_upscales_small_grids():
    img = _img(viz.grid_png(viz.kernel_grid(torch.randn(4, 1, 3, 3)), min_side=100))
    h0, w0 = 5, 17
    scale = img.size[1] // h0
    assert img.size == (w0 * scale, h0 * scale) and h0 * scale >= 100


def test_sample_and_histogram_figures():
    fig = viz.sample_figure(torch.rand(3, 20, 30), "digits")
    assert fig.axes[0].get_title() == "digits" and _not_blank(_img(viz.to_png(fig)))
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    fig = viz.weight_histograms(model)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["0.weight", "2.weight"]
    assert sum(p.get_height() for p in fig.axes[0].patches) == 12


def test_y_limits_rarely_change():
    cp = viz.CurvesPlot(["loss", "accuracy"], 1, total_steps=100)
    rows = [{"step": s, "loss": 2.0 - s / 40, "accuracy": 0.3 + s / 200} for s in range(1, 61)]
    cp.update(rows[:10])
    acc_limits = cp.axes[1].get_ylim()
    assert acc_limits == pytest.approx((-0.08, 1.08))                      # a fraction: [0, 1] from the start
    cp.update(rows)                                                        # loss 1.98 -> 0.5: from 0 on
    assert cp.axes[0].get_ylim()[0] < 0 and cp.axes[1].get_ylim() == acc_limits
    limits = cp.axes[0].get_ylim()
    cp.update(rows + [{"step": 70, "loss": 0.4}])
    assert cp.axes[0].get_ylim() == limits                                 # inside: kept
    assert cp.axes[0].get_xlim() == (0, 102)
