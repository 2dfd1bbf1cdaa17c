"""The dashboard's static picture at the end of a run: every panel in one PNG, in the run's theme and language.

What a saved notebook shows where there is no widget state (GitHub, nbviewer): the curves of each metric with
legends and axis titles (train smoothed over its raw values, validation as a line with markers), the learning rate
of each group with its plan (or one line of text when it stayed constant), the confusion matrix with the per-class
table (or predicted vs true for a regression), the layer strip (gradient norm per layer over the run) and the feature
maps and kernels of the first conv layer. matplotlib runs here only once the run has ended (``Dashboard.final_png``);
the colours are Okabe-Ito's, as in the live view (live.css), lighter ones on a dark theme.
"""
from __future__ import annotations

import math
import types

from ... import i18n, viz
from .feed import numeric, planned

LIGHT = {"bg": "#ffffff", "fg": "#222222", "grid": "#e0e0e0", "train": "#0072B2", "val": "#D55E00",
         "groups": ["#0072B2", "#D55E00", "#009E73", "#CC79A7"], "cmap": "viridis"}
DARK = {"bg": "#111111", "fg": "#dddddd", "grid": "#444444", "train": "#56B4E9", "val": "#E69F00",
        "groups": ["#56B4E9", "#E69F00", "#009E73", "#CC79A7"], "cmap": "viridis"}
MAX_CLASSES = 12            # rows of the per-class table (the worst F1 first beyond this)
MARKERS = 40                # validation markers per chart at most


def words(lang: str):
    """``w(key, **kw)``: the ``chart.<key>`` string of i18n.json in ``lang``."""
    return lambda key, **kw: i18n.t("chart." + key, lang, **kw)


def rc(theme: dict) -> dict:
    """matplotlib settings for the theme (used as an rc_context while the picture is drawn and encoded)."""
    return {"figure.facecolor": theme["bg"], "axes.facecolor": theme["bg"], "savefig.facecolor": theme["bg"],
            "axes.edgecolor": theme["grid"], "axes.labelcolor": theme["fg"], "text.color": theme["fg"],
            "xtick.color": theme["fg"], "ytick.color": theme["fg"], "grid.color": theme["grid"],
            "legend.frameon": False, "font.size": 8, "axes.titlesize": 9}


def series(rows, key):
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and r.get("step") is not None
           and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def run_of(dash):
    """What the picture reads: the run record's log points, epoch rows (numbers only), LR rows and plan, layer
    statistics, and the dashboard's own images, insight, smoothing and status line."""
    h = dash.record
    return types.SimpleNamespace(
        steps=[numeric(r) for r in h.steps], epochs=[numeric(r) for r in h.epochs], lr_rows=list(h.lr_rows),
        plan=planned(h) or [], layer_rows=list(h.layer_rows), layer_names=list(h.layer_names),
        insight=dash.insight, fmaps=dash.fmaps, kern=dash.kern, smooth=dash.smooth, status=dash.status_text())


def metric_panel(ax, dash, key, theme, w) -> None:
    """One metric over steps: raw and smoothed train, validation with markers; legend and axis titles."""
    xs, ys = series(dash.steps, key)
    if not xs:
        xs, ys = series(dash.epochs, key)
    if xs:
        if dash.smooth:
            ax.plot(xs, ys, color=theme["train"], alpha=0.25, lw=0.8)
        ax.plot(xs, viz.ema(ys, dash.smooth) if dash.smooth else ys, color=theme["train"], lw=1.4, label=w("train"))
    vx, vy = series(dash.epochs, "val_" + key)
    if vx:
        every = max(1, math.ceil(len(vx) / MARKERS))
        ax.plot(vx, vy, color=theme["val"], lw=1.4, marker="o", ms=3, markevery=every, label=w("val"))
    name = w("loss") if key == "loss" else w("accuracy") if key in ("acc", "accuracy") else key
    ax.set_xlabel(w("step"))
    ax.set_ylabel(name)
    ax.grid(True, lw=0.5)
    ax.legend(loc="best", fontsize=7)


def lr_panel(ax, dash, theme, w) -> None:
    """The LR of each group (solid) and its plan (dashed), or one line of text when every LR stayed constant."""
    rows, plan = dash.lr_rows, dash.plan
    groups = max(len(rows[-1][1]) if rows else 0, len(plan))
    values = []
    for g in range(groups):
        seen = [r[1][g] for r in rows if g < len(r[1])] + list(plan[g] if g < len(plan) else [])
        values.append(seen[0] if seen and all(v == seen[0] for v in seen) else None)
    if all(v is not None for v in values):
        ax.axis("off")
        text = " · ".join(f"{viz_fmt(v)}" if groups == 1 else f"{w('group', g=g)} {viz_fmt(v)}"
                          for g, v in enumerate(values))
        ax.text(0.0, 0.5, w("constant", v=text) if values else "", transform=ax.transAxes, va="center")
        return
    for g in range(groups):
        c = theme["groups"][g % 4]
        name = w("group", g=g) if groups > 1 else w("lr")
        if g < len(plan) and plan[g]:
            ax.plot(range(len(plan[g])), plan[g], color=c, ls="--", lw=0.9, alpha=0.7, label=f"{name} · {w('planned')}")
        ax.plot([r[0] for r in rows], [r[1][g] for r in rows], color=c, lw=1.4, label=name)
    ax.set_xlabel(w("step"))
    ax.set_ylabel(w("lr"))
    ax.grid(True, lw=0.5)
    ax.legend(loc="best", fontsize=7)


def viz_fmt(v: float) -> str:
    return f"{v:.3g}"


def confusion_panel(ax, ins, theme, w) -> None:
    cm = ins["confusion"]
    k = len(cm)
    norm = [[n / (sum(row) or 1) for n in row] for row in cm]
    ax.imshow(norm, cmap=theme["cmap"], vmin=0, vmax=1)
    names = [str(n) for n in (ins.get("names") or range(k))]
    if k <= 20:
        ax.set_xticks(range(k), names, fontsize=6, rotation=90 if max(map(len, names)) > 2 else 0)
        ax.set_yticks(range(k), names, fontsize=6)
    if k <= 12:
        for i, row in enumerate(cm):
            for j, n in enumerate(row):
                if n:
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=6,
                            color="black" if norm[i][j] > 0.6 else "white")
    ax.set_xlabel(w("predicted"))
    ax.set_ylabel(w("true"))
    ax.set_title(w("confusion", e=ins.get("epoch", "")))


def per_class_panel(ax, ins, w) -> None:
    pc, names = ins.get("per_class"), ins.get("names")
    ax.axis("off")
    if not pc:
        return
    idx = list(range(len(pc["f1"])))
    if len(idx) > MAX_CLASSES:
        idx = sorted(idx, key=lambda i: pc["f1"][i] if pc["f1"][i] is not None else 0)[:MAX_CLASSES]
    cell = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731 - a table cell
    rows = [[str(names[i]) if names else str(i), cell(pc["precision"][i]), cell(pc["recall"][i]), cell(pc["f1"][i]),
             str(pc["support"][i])] for i in idx]
    table = ax.table(cellText=rows, colLabels=[w("class"), w("precision"), w("recall"), "F1", "n"], loc="upper center",
                     cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    for c in table.get_celld().values():
        c.set_edgecolor("#888888")
        c.set_facecolor("none")
        c.get_text().set_color(ax.xaxis.label.get_color())
    ax.set_title(w("per_class"))


def residual_panel(ax, ins, theme, w) -> None:
    t, p = ins["true"], ins["pred"]
    pts = [(a, b) for a, b in zip(t, p) if a is not None and b is not None]
    ax.scatter([a for a, _ in pts], [b for _, b in pts], s=3, color=theme["train"], alpha=0.6)
    if pts:
        lo, hi = min(min(a, b) for a, b in pts), max(max(a, b) for a, b in pts)
        ax.plot([lo, hi], [lo, hi], color=theme["grid"], lw=1)
    ax.set_xlabel(w("true"))
    ax.set_ylabel(w("predicted"))
    ax.set_title(w("residuals", e=ins.get("epoch", "")))


def layer_panel(ax, run, theme, w) -> None:
    """log10 gradient norm per layer (rows) over the log points (columns, at most 120)."""
    rows, names = run.layer_rows, run.layer_names
    stride = max(1, math.ceil(len(rows) / 120))
    cols = rows[::stride]
    grid = [[math.log10(r["grad"][i]) if i < len(r["grad"]) and r["grad"][i] and r["grad"][i] > 0 else math.nan
             for r in cols] for i in range(len(names))]
    x0, x1 = cols[0]["step"], cols[-1]["step"]
    half = (x1 - x0) / (len(cols) - 1) / 2 if len(cols) > 1 else 0.5     # each column centred on its step
    im = ax.imshow(grid, aspect="auto", cmap=theme["cmap"], interpolation="nearest",
                   extent=(x0 - half, x1 + half, len(names) - 0.5, -0.5))
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_xlabel(w("step"))
    ax.set_title(w("layer_grad"))
    ax.figure.colorbar(im, ax=ax, fraction=0.05, pad=0.02)


def image_panel(ax, grid, title) -> None:
    ax.imshow(grid.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")


def bottom_panels(dash, theme, w) -> list:
    """The second row: ``[(draw(ax), weight)]`` for the panels this run has (insight, layer strip, images)."""
    out = []
    ins = dash.insight
    if ins and ins.get("kind") == "classification":
        out += [(lambda ax: confusion_panel(ax, ins, theme, w), 1.0), (lambda ax: per_class_panel(ax, ins, w), 1.1)]
    elif ins and ins.get("kind") == "regression":
        out.append((lambda ax: residual_panel(ax, ins, theme, w), 1.0))
    if dash.layer_rows and dash.layer_names:
        out.append((lambda ax: layer_panel(ax, dash, theme, w), 1.3))
    for kind, maker, key in (("fmaps", viz.feature_grid, "features_of"), ("kern", viz.kernel_grid, "kernels_of")):
        found = getattr(dash, kind, None) or {}
        if found:
            name, value = next(iter(found.items()))
            out.append((lambda ax, m=maker, v=value, t=w(key, name=name): image_panel(ax, m(v), t), 0.9))
    return out


def final_figure(dash, lang: str = "en", dark: bool = False):
    """The whole dashboard as one matplotlib Figure: the status line, the curves and LR, then the panels."""
    import matplotlib  # heavy: only once the run has ended
    theme, w, dash = (DARK if dark else LIGHT), words(lang), run_of(dash)
    viz.use_cjk_font(lang=lang)
    keys = viz.metric_keys(dash.steps + dash.epochs)[:2] or ["loss"]
    bottom = bottom_panels(dash, theme, w)
    with matplotlib.rc_context(rc(theme)):
        fig = viz.new_figure(12.0, 6.4 if bottom else 3.3, dpi=80)
        top, low = fig.subfigures(2, 1, height_ratios=[1, 1.15]) if bottom else (fig, None)
        axes = top.subplots(1, len(keys) + 1, width_ratios=[1] * len(keys) + [0.8], squeeze=False)[0]
        for ax, key in zip(axes, keys):
            metric_panel(ax, dash, key, theme, w)
        lr_panel(axes[-1], dash, theme, w)
        xmax = max([r["step"] for r in dash.steps[-1:] + dash.epochs[-1:]] + [r[0] for r in dash.lr_rows[-1:]] + [1])
        for ax in axes:                                 # one x-range for the curves and the LR, as in the live view
            ax.set_xlim(0, xmax * 1.02)
        fig.nbtrain_axes = {"metrics": list(axes[:-1]), "lr": axes[-1]}
        top.suptitle(dash.status, fontsize=9, x=0.01, ha="left")
        if low is not None:
            cells = low.subplots(1, len(bottom), width_ratios=[wt for _, wt in bottom], squeeze=False)[0]
            for ax, (draw, _) in zip(cells, bottom):
                draw(ax)
    return fig


def final_png(dash) -> tuple:
    """(PNG bytes, Figure) of the dashboard's final picture, in its language and the front end's theme."""
    import matplotlib  # heavy: only once the run has ended
    lang, dark = getattr(dash, "lang", "en"), bool(getattr(dash, "dark", False))
    fig = final_figure(dash, lang, dark)
    with matplotlib.rc_context(rc(DARK if dark else LIGHT)):
        return viz.to_png(fig), fig
