"""The values TensorBoard's sink writes, as tensorboardX's own protos (what ``add_histogram_raw``, ``add_scalar`` and
``add_image`` make), built at less cost: a histogram from torch.histc, many scalars in one event, a PNG at zlib level 1.
Not a sink: nbtrain.sinks.tensorboard's alone. tensorboardX is imported inside (only a run with a logdir needs it).
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image


def histogram(tag: str, t: torch.Tensor, bins: int = 64):
    """A histogram from torch.histc (tensorboardX's numpy path sorts every value: 30x slower), as one value of a
    Summary (``add_histogram_raw``'s); None for a tensor with a value that is not finite."""
    from tensorboardX.summary import histogram_raw  # tensorboardX: only a run that logs to TensorBoard needs it
    x = t.detach().float().flatten()
    stats = torch.stack([x.min(), x.max(), x.sum(), (x * x).sum()]).tolist()
    lo, hi = stats[0], stats[1]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-6
    counts = torch.histc(x, bins, lo, hi).tolist()
    limits = torch.linspace(lo, hi, bins + 1)[1:].tolist()     # lists: the protobuf reads a tensor element by element
    return histogram_raw(tag, lo, hi, x.numel(), stats[2], stats[3], limits, counts).value[0]


def write_scalars(writer, items) -> None:
    """``(tag, value, step)`` triples to the writer as one event per step. tensorboardX's add_scalar makes an event,
    with its checks, per value (0.2 ms each: 10 ms an epoch for the per-class and per-layer scalars of a small
    run); one summary with many values is what it writes too, and what EventAccumulator reads value by value."""
    from tensorboardX.proto.summary_pb2 import Summary  # tensorboardX: only a run that logs to TensorBoard needs it
    from tensorboardX.summary import _clean_tag  # the tag rules add_scalar applies
    by_step: dict = {}
    for tag, v, step in items:
        by_step.setdefault(step, []).append(Summary.Value(tag=_clean_tag(tag), simple_value=float(v)))
    for step, values in by_step.items():
        writer.file_writer.add_summary(Summary(value=values), step)


def image(tag: str, img: torch.Tensor):
    """``add_image``'s value for a CHW image (floats in [0, 1] or uint8): tensorboardX's ``summary.image`` pixels in a
    PNG at zlib level 1, without its same-size LANCZOS pass (a third of the time)."""
    from tensorboardX.proto.summary_pb2 import Summary  # tensorboardX: only a run that logs to TensorBoard needs it
    from tensorboardX.summary import _clean_tag  # the tag rules add_image applies
    a = np.asarray(img.detach().cpu()).transpose(1, 2, 0)
    a = np.repeat(a, 3, 2) if a.shape[2] == 1 else a
    a = a if a.dtype == np.uint8 else (a * 255.0).astype(np.uint8)
    Image.fromarray(a).save(out := io.BytesIO(), format="PNG", compress_level=1)
    return Summary.Value(tag=_clean_tag(tag), image=Summary.Image(height=a.shape[0], width=a.shape[1],
                                                                  colorspace=a.shape[2], encoded_image_string=out.getvalue()))
