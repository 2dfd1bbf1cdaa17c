"""What the browser has not seen yet, as one small JSON message: numbers and uint8 tiles, never pictures.

A ``Feed`` keeps cursors into the dashboard's append-only lists (log points, epoch rows, LR records, notes, the
LayerStats rows and activation rows) and versions of what is replaced whole (the planned LR, the image tiles, the
insight panel's numbers); ``take`` returns only what is new since the
last call, so one update costs the same at step 100 and at step 100,000. ``tiles`` turns feature maps and conv
kernels into uint8 grids (base64) that the front end paints on a canvas; ``histograms`` weight counts for bars.
``PAST`` keeps the curves of this session's last runs, which a new dashboard overlays faintly.
"""
from __future__ import annotations

import base64
import math

import torch
import torch.nn.functional as F

from ... import viz

PAST: list = []            # the last PAST_SIZE finished runs of this process: {"label", "steps", "epochs"}
PAST_SIZE = 3
_FINISHED = [0]            # runs remembered so far (they are numbered in the legend)
PLAN_POINTS = 600          # the planned LR is sent as at most this many points per group
MAX_SIDE = 48              # feature maps larger than this are averaged down before they are tiled


def numeric(logs: dict) -> dict:
    """The numeric entries of a logs dict, as floats (NaN and inf become None: JSON has no such numbers)."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in logs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


class Feed:
    """Cursors into a dashboard's lists: ``take(dash)`` -> the message with everything new, or None."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget what was sent (a view asked for everything again)."""
        self.cursors = {"steps": 0, "epochs": 0, "lr": 0, "notes": 0, "layers": 0, "acts": 0}
        self.plan_version = self.img_version = self.insight_version = -1
        self.status = None

    def take(self, dash, final: bool = False) -> dict | None:
        msg: dict = {}
        stats = dash.layerstats
        lists = {"steps": dash.steps, "epochs": dash.epochs, "lr": dash.lr_rows,
                 "notes": list(dash.state.notes) if dash.state is not None else [],
                 "layers": stats.rows if stats is not None else [], "acts": stats.acts if stats is not None else []}
        for key, rows in lists.items():
            start = self.cursors[key]
            if len(rows) > start:
                msg[key] = [start, rows[start:]]
                self.cursors[key] = len(rows)
        if dash.plan_version != self.plan_version:
            self.plan_version = dash.plan_version
            msg["plan"] = sample_plan(dash.planned())
        if dash.img_version != self.img_version:
            self.img_version = dash.img_version
            msg["images"] = dash.images
        if dash.insight_version != self.insight_version:
            self.insight_version = dash.insight_version
            msg["insight"] = dash.insight
        status = dash.head()
        if msg or final or status != self.status:
            self.status = status
            msg.update(status, t="data", final=final)
            return msg
        return None


def sample_plan(plan) -> dict | None:
    """``{"x": steps, "y": [per group]}`` at most PLAN_POINTS long (the last step always kept), or None."""
    if not plan or not plan[0]:
        return None
    n = len(plan[0])
    stride = max(1, math.ceil(n / PLAN_POINTS))
    xs = list(range(0, n, stride))
    if xs[-1] != n - 1:
        xs.append(n - 1)
    return {"x": xs, "y": [[float(p[i]) for i in xs] for p in plan]}


def tile(grid) -> dict:
    """A (C, H, W) grid in [0, 1] as uint8 bytes (base64, row-major, C = 1 for gray or 3 for RGB)."""
    g = (grid.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    if g.shape[0] == 3 and torch.equal(g[0], g[1]) and torch.equal(g[1], g[2]):
        g = g[:1]
    c, h, w = g.shape
    raw = g.permute(1, 2, 0).contiguous().numpy().tobytes()
    return {"w": int(w), "h": int(h), "c": int(c), "data": base64.b64encode(raw).decode("ascii")}


def shrink(fmap):
    """Feature maps averaged down to at most MAX_SIDE pixels a side (a tile stays a few KB)."""
    x = fmap.detach().float()
    if x.dim() == 4 and max(x.shape[-2:]) > MAX_SIDE:
        scale = MAX_SIDE / max(x.shape[-2:])
        size = (max(1, int(x.shape[-2] * scale)), max(1, int(x.shape[-1] * scale)))
        x = F.adaptive_avg_pool2d(x, size)
    return x


def tiles(fmaps: dict, kernels: dict) -> dict:
    """Layer name -> tile, for feature maps and for kernels (empty dicts for a model with no conv layer)."""
    return {"fmap": {n: tile(viz.feature_grid(shrink(m))) for n, m in fmaps.items()}, "hist": [],
            "kern": {n: tile(viz.kernel_grid(w)) for n, w in kernels.items()}}


def histograms(weights: dict, max_layers: int = 8, bins: int = 40) -> list:
    """``[{"name", "lo", "hi", "counts"}]`` for the first ``max_layers`` weight tensors."""
    out = []
    for name, p in [(n, p) for n, p in weights.items() if n.endswith("weight")][:max_layers]:
        v = p.detach().float().flatten()
        lo, hi = float(v.min()), float(v.max())
        counts = torch.histc(v, bins=bins, min=lo, max=hi if hi > lo else lo + 1e-6)
        out.append({"name": name, "lo": lo, "hi": hi, "counts": [int(c) for c in counts.tolist()]})
    return out


def remember(label: str, steps: list, epochs: list, keep: int = 2000) -> None:
    """Keep a finished run's curves (no LR) for the next dashboards of this process."""
    stride = max(1, math.ceil(len(steps) / keep))
    strip = [{k: v for k, v in r.items() if not k.startswith("lr")} for r in steps[::stride]]
    PAST.append({"label": label, "steps": strip,
                 "epochs": [{k: v for k, v in r.items() if not k.startswith("lr")} for r in epochs]})
    del PAST[:-PAST_SIZE]
    _FINISHED[0] += 1


def finished() -> int:
    """How many runs this process has remembered."""
    return _FINISHED[0]
