"""Pure figure makers: curves, LR per group, feature-map and kernel grids, sample grid, weight histograms.

Every function takes plain data (lists of log dicts, tensors) and returns a matplotlib ``Figure`` built
with the object API on the Agg canvas (no pyplot, no global state), or PNG bytes. Nothing here knows about
the loop or widgets, so a figure can be made in a test, a script, or a render thread alike.
"""
from __future__ import annotations

import io
import math
import os
import re
from functools import lru_cache
from typing import Sequence

import torch.nn.functional as F
from torchvision.utils import make_grid, save_image


def color(i: int) -> str:
    """The i-th colour of matplotlib's default cycle ("C0".."C9"), one per param group / series."""
    return f"C{i % 10}"


def new_figure(width: float = 9.0, height: float = 3.0, dpi: int = 80, layout: str | None = "constrained"):
    """A Figure on its own Agg canvas, outside pyplot's registry (so nothing leaks between calls).

    ``layout=None`` for figures that place their axes themselves (``subplots_adjust``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib: imported by the first figure only
    from matplotlib.figure import Figure  # matplotlib: as above
    use_cjk_font()
    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


# CJK fonts, most wanted first: Linux (Noto, WenQuanYi), Adobe, Windows (SimHei, YaHei), macOS
CJK_FONTS = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Source Han Sans SC", "SimHei",
             "Microsoft YaHei", "PingFang SC")
_CJK = re.compile("[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")


@lru_cache(1)
def _installed_fonts() -> frozenset:
    from matplotlib import font_manager  # heavy optional module: only when CJK text is wanted
    return frozenset(f.name for f in font_manager.fontManager.ttflist)


def use_cjk_font(text: str = "", lang: str | None = None, installed=None) -> str | None:
    """Let matplotlib draw Chinese text. When ``lang`` (default: $NBTRAIN_LANG, else $LANG) starts with "zh"
    or ``text`` holds a CJK character, the first installed font of CJK_FONTS becomes a per-glyph fallback:
    appended to rcParams['font.family'] (Latin text keeps its font) and listed in rcParams['font.sans-serif'].
    Returns that font's name, or None (no CJK wanted, or none installed). ``installed``: the font names to
    choose from (default: matplotlib's font list)."""
    lang = lang if lang is not None else os.environ.get("NBTRAIN_LANG") or os.environ.get("LANG", "")
    if not (lang.lower().startswith("zh") or _CJK.search(text)):
        return None
    names = _installed_fonts() if installed is None else set(installed)
    font = next((f for f in CJK_FONTS if f in names), None)
    if font is None:
        return None
    import matplotlib  # heavy optional module: only when CJK text is wanted
    rc = matplotlib.rcParams
    if font not in rc["font.sans-serif"]:
        rc["font.sans-serif"] = [*rc["font.sans-serif"][:1], font, *rc["font.sans-serif"][1:]]
    if font not in rc["font.family"]:
        rc["font.family"] = [*rc["font.family"], font]
    return font


def to_png(fig, dpi: int | None = None) -> bytes:
    """Render a Figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


def ema(values: Sequence[float], alpha: float = 0.6) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing); NaNs are skipped, not spread."""
    out, avg, weight = [], 0.0, 0.0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(float("nan"))
            continue
        avg = alpha * avg + (1 - alpha) * v
        weight = alpha * weight + (1 - alpha)
        out.append(avg / weight)
    return out


def _series(rows: Sequence[dict], key: str, xkey: str = "step"):
    pts = [(r[xkey], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and xkey in r]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def _style(ax, title: str) -> None:
    """Few texts: text is most of the cost of drawing axes (x is the global step on every panel)."""
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.locator_params(nbins=4)
    ax.grid(alpha=0.3)


class CurvesPlot:
    """The curves figure, built once and updated in place.

    One panel per metric: per-step values (raw, faint; EMA-smoothed, solid), per-epoch train markers and the
    ``val_`` curve; then the LR of each param group, with the planned schedule ``plan[g][t]`` drawn faintly.
    Rows are log dicts with ``step`` (epoch rows carry the global step at the epoch's end).

    ``total_steps`` fixes the x axis to the whole run, and y limits change only when the data leaves them or
    fills about a third of them.
    """

    def __init__(self, metrics: Sequence[str] = ("loss",), groups: int = 1, width: float = 10.0,
                 height: float = 3.0, dpi: int = 90, total_steps: int = 0):
        self.metrics, self.groups, self.total = tuple(metrics), groups, total_steps
        self._ylim: dict = {}
        self.fig = new_figure(width, height, dpi)
        self.fig.set_layout_engine(None)
        self.fig.subplots_adjust(left=0.05, right=0.99, bottom=0.1, top=0.84, wspace=0.22)
        axes = self.fig.subplots(1, len(self.metrics) + 1, squeeze=False)[0]
        self.axes = list(axes)
        self.lines: dict = {}
        for ax, key in zip(axes, self.metrics):
            _style(ax, key)
            self.lines[key] = (ax.plot([], [], color=color(0), alpha=0.25, lw=1)[0],
                               ax.plot([], [], color=color(0), lw=1.5, label="train")[0],
                               ax.plot([], [], "o", color=color(0), ms=4)[0],
                               ax.plot([], [], "o-", color=color(1), ms=4, lw=1.5, label="val")[0])
            ax.legend(fontsize=7, loc="upper right")
        lr_ax = axes[-1]
        _style(lr_ax, "learning rate (x: step)")
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        self.lr_lines = [(lr_ax.plot([], [], color=color(g), alpha=0.3, lw=1, ls="--")[0],
                          lr_ax.plot([], [], color=color(g), lw=1.5, label=f"group {g}")[0])
                         for g in range(groups)]
        if groups > 1:
            lr_ax.legend(fontsize=7, loc="upper right")
        self.title = self.fig.suptitle("", fontsize=9)

    def update(self, steps: Sequence[dict] = (), epochs: Sequence[dict] = (), lr_steps: Sequence[int] = (),
               lrs: Sequence[Sequence[float]] = (), plan=None, title: str = "", smooth: float = 0.6) -> "CurvesPlot":
        for ax, key in zip(self.axes, self.metrics):
            raw, sm, ep, val = self.lines[key]
            x, y = _series(steps, key)
            raw.set_data(x, y)
            sm.set_data(x, ema(y, smooth) if smooth else y)
            ep.set_data(*_series(epochs, key))
            val.set_data(*_series(epochs, f"val_{key}"))
            self._limits(ax, unit=key != "loss")
        for g, (planned, actual) in enumerate(self.lr_lines):
            p = plan[g] if plan and g < len(plan) else []
            planned.set_data(range(len(p)), p)
            ys = [row[g] for row in lrs if g < len(row)]
            actual.set_data(list(lr_steps)[:len(ys)], ys)
        self._limits(self.axes[-1])
        self.title.set_text(title)
        return self

    def _limits(self, ax, unit: bool = False) -> None:
        """Limits that rarely change: [0, 1] for a metric whose values are all in
        [0, 1] (``unit``), from 0 for values >= 0 that already span half of that, and otherwise kept while the
        data fills about a third of them."""
        xs, ys = [], []
        for line in ax.lines:
            xs += [float(v) for v in line.get_xdata()]
            ys += [float(v) for v in line.get_ydata() if math.isfinite(v)]
        ax.set_xlim(0, max([self.total, *xs, 1]) * 1.02)
        if not ys:
            return
        lo, hi = min(ys), max(ys)
        if unit and lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0
        elif 0 <= lo < 0.5 * hi:                   # a loss well on its way down: from 0, so it stays inside
            lo = 0.0
        cur = self._ylim.get(id(ax))
        if cur is not None and cur[0] <= lo and hi <= cur[1] and (hi - lo) >= 0.35 * (cur[1] - cur[0]):
            return
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
        if not unit:                               # on a grid of round steps
            lo, hi = _round_limits(lo, hi)
        self._ylim[id(ax)] = (lo, hi)
        ax.set_ylim(lo, hi)


def _round_limits(lo: float, hi: float) -> tuple[float, float]:
    """``lo`` and ``hi`` widened to a grid of about 20 round steps (1, 2, 2.5 or 5 times a power of ten)."""
    from matplotlib.ticker import MaxNLocator  # matplotlib: viz draws figures only when asked
    ticks = MaxNLocator(nbins=20, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    return float(ticks[0]), float(ticks[-1])


def curves_figure(steps: Sequence[dict], epochs: Sequence[dict], metrics: Sequence[str] = ("loss",),
                  lr_steps: Sequence[int] = (), lrs: Sequence[Sequence[float]] = (), plan=None,
                  title: str = "", smooth: float = 0.6, width: float = 10.0, height: float = 3.0, dpi: int = 90):
    """The dashboard's figure in one call: one panel per metric, then the LR panel. Returns the Figure."""
    groups = max(len(lrs[0]) if len(lrs) else 0, len(plan) if plan else 0, 1)
    return CurvesPlot(metrics, groups, width, height, dpi).update(steps, epochs, lr_steps, lrs, plan, title,
                                                                   smooth).fig


def lr_find_figure(lrs, losses, suggestion=None, fig=None):
    """Loss against learning rate (log x), with the suggested LR marked."""
    fig = fig or new_figure(5.5, 2.8, layout=None)
    fig.clear()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(lrs, losses, lw=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    if suggestion is not None:
        ax.axvline(suggestion, color="C3", ls="--", lw=1)
        ax.set_title(f"suggested lr: {suggestion:.2g}", fontsize=10)
    fig.tight_layout()
    return fig


def metric_keys(rows: Sequence[dict]) -> list[str]:
    """Train metric names found in log dicts (loss first), without ``val_`` twins and bookkeeping keys."""
    skip = {"step", "epoch", "lr", "time", "samples", "batch"}
    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            k = k[4:] if k.startswith("val_") else k
            if k not in skip and not k.startswith("lr") and isinstance(v, (int, float)) and k not in keys:
                keys.append(k)
    return sorted(keys, key=lambda k: (k != "loss", keys.index(k)))


# -- image grids (torchvision.utils.make_grid) --------------------------------------------------------
def feature_grid(fmap, max_maps: int = 32, nrow: int = 8):
    """Feature maps of one image, ``(C, H, W)`` or ``(1, C, H, W)``, as a (3, H', W') grid, each map scaled alone."""
    fmap = fmap.detach().float().cpu()
    if fmap.dim() == 4:
        fmap = fmap[0]
    if fmap.dim() == 2:               # (C, L) from a Conv1d: show each channel as a 1-pixel-high strip
        fmap = fmap.unsqueeze(1)
    maps = fmap[:max_maps].unsqueeze(1)
    return make_grid(maps, nrow=min(nrow, len(maps)), normalize=True, scale_each=True, padding=1, pad_value=1.0)


def kernel_grid(weight, max_kernels: int = 64, nrow: int = 8):
    """Conv kernels ``(out, in, kh, kw)`` as a grid: RGB when in == 3, else the first input channel."""
    w = weight.detach().float().cpu()
    if w.dim() == 3:                  # Conv1d (out, in, k)
        w = w.unsqueeze(2)
    if w.dim() == 5:                  # Conv3d: the middle depth slice
        w = w[:, :, w.shape[2] // 2]
    w = w[:max_kernels]
    w = w if w.shape[1] == 3 else w[:, :1]
    return make_grid(w, nrow=min(nrow, len(w)), normalize=True, scale_each=True, padding=1, pad_value=1.0)


def grid_png(grid, min_side: int = 160) -> bytes:
    """A (C, H, W) image tensor in [0, 1] as PNG bytes, upscaled with nearest pixels so small kernels show."""
    g = grid.detach().float().cpu()
    scale = max(1, math.ceil(min_side / max(1, min(g.shape[-2:]))))
    scale = min(scale, max(1, 1024 // max(g.shape[-2:])))
    if scale > 1:
        g = F.interpolate(g.unsqueeze(0), scale_factor=scale, mode="nearest")[0]
    buf = io.BytesIO()
    save_image(g, buf, format="png")
    return buf.getvalue()


def image_figure(grid, title: str = "", width: float = 4.0, height: float = 4.0, dpi: int = 72):
    """A (C, H, W) tensor (a make_grid result, e.g. data.sample_grid) shown on a Figure."""
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    img = grid.detach().float().cpu()
    img = img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy()
    ax.imshow(img.clip(0, 1), cmap=None if img.ndim == 3 else "gray", interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def sample_figure(grid, title: str = "samples", **kw):
    """The sample grid of a data pipeline (``nbtrain.sample_grid``) as a Figure."""
    return image_figure(grid, title, **kw)


def weight_histograms(model, max_layers: int = 8, bins: int = 40, width: float = 10.0, dpi: int = 72):
    """One histogram per layer's weight (the first ``max_layers`` that have one); ``model`` or a name -> tensor dict."""
    items = model.items() if isinstance(model, dict) else model.named_parameters()
    named = [(n, p) for n, p in items if n.endswith("weight")][:max_layers]
    cols = min(4, max(1, len(named)))
    rows = max(1, math.ceil(len(named) / cols))
    fig = new_figure(width, 2.0 * rows, dpi)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (name, p) in zip(axes, named):
        ax.hist(p.detach().float().cpu().flatten().numpy(), bins=bins, color=color(0))
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes[len(named):]:
        ax.set_axis_off()
    return fig
