"""The numbers of the dashboard's insight panels: per-layer statistics and what the model gets wrong.

``layer_meta``: the layer names of the run record's layer statistics (sent once, with the run's meta); their rows
travel with the Feed like the curves (append-only, only what is new). ``insight(record, loader, epoch)``: what the
run record holds of the latest validation (nbtrain.train.history: ``confusion``, ``per_class``, ``top_losses``,
``class_names`` for a classification run, ``residuals`` for a regression), as one JSON-ready dict that replaces the
previous one, with a small uint8 tile of each top-loss sample when the validation samples are images. None when the
run has neither.
"""
from __future__ import annotations

import math

import torch

from ...train.insight import val_sample
from .feed import tile

TOP = 8                    # top-loss samples sent to the browser
THUMB = 48                 # their thumbnails at most this many pixels a side
MAX_POINTS = 2000          # regression points sent


def clean(obj):
    """A copy with NaN and inf floats as None (JSON has no such numbers) and tuples as lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def layer_meta(record) -> dict | None:
    """``{"grad": layer names, "act": activation layer names}`` of the record's layer statistics, or None."""
    if record is None or not (record.layer_names or record.act_names):
        return None
    return {"grad": list(record.layer_names), "act": list(record.act_names)}


def insight(h, loader, epoch: int) -> dict | None:
    """The latest validation's confusion matrix, per-class metrics and top losses, or its residuals, or None
    (``h`` the run record, ``loader`` the validation loader the thumbnails come from, ``epoch`` 1-based)."""
    matrices = getattr(h, "confusion", None)
    if matrices:
        per_class = getattr(h, "per_class", None) or [None]
        top = list(getattr(h, "top_losses", None) or [])[:TOP]
        return clean({"kind": "classification", "epoch": epoch, "confusion": matrices[-1],
                      "per_class": per_class[-1], "names": getattr(h, "class_names", None), "top": top,
                      "thumbs": thumbnails(loader, [r["index"] for r in top])})
    res = getattr(h, "residuals", None)
    if res and res.get("true"):
        n = len(res["true"])
        stride = max(1, math.ceil(n / MAX_POINTS))
        return clean({"kind": "regression", "epoch": epoch,
                      "true": [float(v) for v in res["true"][::stride]],
                      "pred": [float(v) for v in res["pred"][::stride]]})
    return None


def thumbnails(loader, indices: list) -> dict:
    """``{str(index): tile}`` of image samples (C, H, W) with C 1 or 3, each scaled to its own range; {} else."""
    out = {}
    try:
        for i in indices:
            x = val_sample(loader, int(i))
            if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[0] not in (1, 3):
                return {}
            x = x.detach().float().cpu()
            if max(x.shape[-2:]) > THUMB:
                scale = THUMB / max(x.shape[-2:])
                size = (max(1, int(x.shape[-2] * scale)), max(1, int(x.shape[-1] * scale)))
                x = torch.nn.functional.adaptive_avg_pool2d(x[None], size)[0]
            lo, hi = x.min(), x.max()
            out[str(int(i))] = tile((x - lo) / (hi - lo) if hi > lo else x * 0)
    except Exception:  # a dataset we cannot index: the panel lists indices and labels only
        return {}
    return out
