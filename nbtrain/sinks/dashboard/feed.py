"""What the browser has not seen yet, as one small JSON message: numbers and uint8 tiles, never pictures.

A ``Feed`` keeps cursors into the run record's append-only lists (nbtrain.train.history: log points, epoch rows, LR rows,
notes, layer statistics and activation rows) and remembers what it sent of what is replaced whole (the planned LR
with its scale events, the image tiles, the insight panel's numbers); ``take`` returns only what is new since the
last call, so one update costs the same at step 100 and at step 100,000. The live dashboard and the HTML export
read the record through it alike. ``tiles`` turns feature maps and conv
kernels into uint8 grids (base64) that the front end paints on a canvas; ``histograms`` weight counts for bars.
``PAST`` keeps the curves of this session's last runs, which a new dashboard overlays faintly.
"""
from __future__ import annotations

import base64
import math

import torch
import torch.nn.functional as F

from ... import viz
from ...train.history import History

NOTHING = History()        # the record of a run not started yet (never written to)
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
    """Cursors into the run record: ``take(record, head, images, insight)`` -> the message with everything new, or
    None. ``head`` is the status part (sent when it changed); ``images`` and ``insight`` are replaced whole by their
    maker (the dashboard at an epoch end, the export once), so a new object is what is new."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget what was sent (a view asked for everything again)."""
        self.cursors = {"steps": 0, "epochs": 0, "lr": 0, "notes": 0, "layers": 0, "acts": 0}
        self.sent = {"plan": None, "images": None, "insight": None}
        self.status = None

    def take(self, record, head: dict, images=None, insight=None, final: bool = False) -> dict | None:
        msg: dict = {}
        record = record if record is not None else NOTHING      # a view shown before its run starts
        lists = {"steps": record.steps, "epochs": record.epochs, "lr": record.lr_rows, "notes": record.notes,
                 "layers": record.layer_rows, "acts": record.act_rows}
        for key, rows in lists.items():
            start = self.cursors[key]
            if len(rows) > start:
                new = rows[start:]
                msg[key] = [start, [numeric(r) for r in new] if key in ("steps", "epochs") else new]
                self.cursors[key] = start + len(new)
        plan = (id(record.lr_plan), len(record.lr_scales))
        if plan != self.sent["plan"]:
            self.sent["plan"] = plan
            msg["plan"] = sample_plan(planned(record))
        for key, value in (("images", images), ("insight", insight)):
            if value is not None and value is not self.sent[key]:
                self.sent[key] = msg[key] = value
        if msg or final or head != self.status:
            self.status = head
            msg.update(head, t="data", final=final)
            return msg
        return None


def planned(record):
    """The planned LR per group, with each LR-scale event of the record applied from the step it was set at."""
    plan = record.lr_plan
    if plan and record.lr_scales:
        return [scaled(p, record.lr_scales) for p in plan]
    return plan


def scaled(plan, scales) -> list:
    """The planned LRs with each ``[step, scale]`` applied from its step on."""
    out, factor, k = [], 1.0, 0
    for t, v in enumerate(plan):
        while k < len(scales) and scales[k][0] <= t:
            factor, k = scales[k][1], k + 1
        out.append(v * factor)
    return out


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


def remember(label: str, steps: list, epochs: list, keep: int = 2000, sig=None) -> None:
    """Keep a finished run's curves (no LR) for the next dashboards of this process; ``sig``: its dataset."""
    stride = max(1, math.ceil(len(steps) / keep))
    strip = [{k: v for k, v in r.items() if not k.startswith("lr")} for r in steps[::stride]]
    PAST.append({"label": label, "sig": sig, "steps": strip,
                 "epochs": [{k: v for k, v in r.items() if not k.startswith("lr")} for r in epochs]})
    del PAST[:-PAST_SIZE]
    _FINISHED[0] += 1


def finished() -> int:
    """How many runs this process has remembered."""
    return _FINISHED[0]


def matching(sig) -> list:
    """The remembered runs trained on the same dataset as a run with signature ``sig`` (the browser then draws one
    only on the charts of the metrics it logged)."""
    return [{k: v for k, v in p.items() if k != "sig"} for p in PAST if sig is not None and p.get("sig") == sig]


def signature(state) -> list | None:
    """What names a run's dataset: the spec's dataset (and file), else the training set's type, size and sample
    shapes; None when there is no training set to tell."""
    spec = getattr(state, "spec", None)
    if spec is not None:
        return ["spec", spec.data.dataset, spec.data.path]
    ds = getattr(getattr(state, "train_loader", None), "dataset", None)
    if ds is None:
        return None
    try:
        size = len(ds)
    except TypeError:
        return None
    shapes = [list(t.shape[1:]) for t in getattr(ds, "tensors", ())]
    return [type(ds).__name__, size, shapes]
