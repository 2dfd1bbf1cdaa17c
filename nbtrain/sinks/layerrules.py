"""The doctor's rules on per-layer statistics (nbtrain.sinks.layerstats) and GPU memory: pure functions.

Each returns ``(code, message)`` or None; the message says what was seen and, in parentheses, the fix. A rule on
per-step numbers fires only when the condition held at ``patience`` log points in a row (one odd step says
nothing); the dead-unit rule reads the epoch-end activations of the probe batch.
"""
from __future__ import annotations

import math
import statistics

VANISH = 1e-3              # first layer's gradient norm below this fraction of the last layer's: vanishing
EXPLODE = 1e3              # a layer's gradient norm above this: exploding
DEAD = 0.5                 # more than this fraction of an activation layer's units dead
UPDATE_LOW, UPDATE_HIGH = 1e-5, 1e-1   # the update/weight ratio's sane band (~1e-3 is typical)


def _ends(row: dict):
    """The gradient norms of the first and last layers that have one (None when fewer than two do)."""
    g = [(i, v) for i, v in enumerate(row["grad"]) if v is not None]
    return (g[0], g[-1]) if len(g) >= 2 else None


def vanishing(rows: list, names: list, patience: int = 3, ratio: float = VANISH):
    recent = rows[-patience:]
    if len(recent) < patience or not all(_ends(r) for r in recent):
        return None
    if not all(last[1] > 0 and first[1] < ratio * last[1] for first, last in map(_ends, recent)):
        return None
    (i, g0), (j, gl) = _ends(recent[-1])
    return ("vanishing_gradients",
            f"the gradients vanish toward the input: the first layer {names[i]!r} gets a gradient norm of {g0:.2g}, "
            f"{gl / max(g0, 1e-45):.0e} times smaller than the last layer {names[j]!r} ({gl:.2g}), for {patience} log "
            "points in a row, so the first layers hardly learn (use ReLU instead of Sigmoid or Tanh between layers, "
            "add BatchNorm after the Linear/Conv layers, or use residual connections)")


def exploding(rows: list, names: list, patience: int = 3, limit: float = EXPLODE):
    recent = rows[-patience:]
    if len(recent) < patience:
        return None
    tops = [max(((v, i) for i, v in enumerate(r["grad"]) if v is not None), default=(0.0, -1)) for r in recent]
    if not all(v > limit for v, _ in tops):
        return None
    v, i = tops[-1]
    return ("exploding_gradients",
            f"the gradients explode: layer {names[i]!r} has a gradient norm of {v:.3g} (above {limit:g} for "
            f"{patience} log points in a row), so each step throws the weights far (clip the gradients with "
            "loop.grad_clip=1.0, lower the learning rate, or add BatchNorm/LayerNorm)")


def update_ratio(rows: list, lr: float = 0.0, patience: int = 5, low: float = UPDATE_LOW, high: float = UPDATE_HIGH):
    """The median over layers of the update/weight ratio, outside [low, high] at ``patience`` log points in a row."""
    meds = []
    for r in rows[-patience:]:
        vals = [v for v in r["update"] if v is not None and math.isfinite(v)]
        if not vals:
            return None
        meds.append(statistics.median(vals))
    if len(meds) < patience:
        return None
    if all(m < low for m in meds):
        raise_to = f"raise the learning rate, e.g. to {lr * 10:.3g} (LR x 10)" if lr else "raise the learning rate"
        return ("update_ratio_low",
                f"each step changes the weights by {meds[-1]:.1e} of their norm (median over layers, {patience} "
                f"log points in a row), far below the usual ~1e-3: the weights hardly move ({raise_to})")
    if all(m > high for m in meds):
        lower = f"lower the learning rate, e.g. to {lr / 10:.3g} (LR / 10)" if lr else "lower the learning rate"
        return ("update_ratio_high",
                f"each step changes the weights by {meds[-1]:.1e} of their norm (median over layers, {patience} "
                f"log points in a row), far above the usual ~1e-3: training jumps around instead of settling ({lower})")
    return None


def dead_units(act: dict, names: list, threshold: float = DEAD):
    """An activation layer with more than ``threshold`` of its units 0 for every probe sample."""
    worst = max(((v, i) for i, v in enumerate(act["dead"]) if v is not None), default=(0.0, -1))
    if worst[0] <= threshold:
        return None
    v, i = worst
    return ("dead_relu",
            f"{v:.0%} of the units after layer {names[i]!r} are 0 for every sample of the probe batch: dead units "
            "that pass no gradient and no longer learn (lower the learning rate, use LeakyReLU or GELU, or check the "
            "layer before it: a large negative bias or a bad initialization kills them)")
