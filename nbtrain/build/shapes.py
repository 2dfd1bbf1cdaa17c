"""Shape inference for one layer of a model: its 'auto' parameters read from the shape flowing in, the ranks
it accepts, and its output shape from a forward pass on the meta device (no arithmetic, no memory)."""
from __future__ import annotations

import math

import torch
from torch.func import functional_call

from ..errors import ShapeError
from ..errors import fmt_shape as _fmt
from ..spec.trainspec import LayerSpec
from .modes import eval_mode

# parameters that may be 'auto': name -> (what it is, how to read it from the incoming shape)
_AUTO = {
    "in_features": ("input features", lambda s: s[-1]),
    "in_channels": ("input channels", lambda s: s[0]),
    "num_features": ("features", lambda s: s[0]),
    "normalized_shape": ("features in the last dimension", lambda s: s[-1]),
}
# layer type -> allowed ranks of the per-sample input shape, and what the shape means
_RANKS = {
    "Conv1d": ((2,), "(C, L)"), "Conv2d": ((3,), "(C, H, W)"), "MaxPool2d": ((3,), "(C, H, W)"),
    "AvgPool2d": ((3,), "(C, H, W)"), "AdaptiveAvgPool2d": ((3,), "(C, H, W)"), "BatchNorm1d": ((1, 2), "(C,) or (C, L)"),
    "BatchNorm2d": ((3,), "(C, H, W)"), "Dropout2d": ((3,), "(C, H, W)"), "TorchvisionModel": ((3,), "(C, H, W)"),
}


def where_of(at: str, layer: LayerSpec) -> str:
    """``model.layers[2] (Conv2d 'conv1')``: a layer's place (``at``: its path in the spec) and what it is."""
    return f"{at} ({layer.type}{' ' + repr(layer.name) if layer.name else ''})"


def resolve_params(layer: LayerSpec, shape: tuple, at: str) -> dict:
    """The layer's kwargs with every 'auto' filled from the incoming shape; checks the shape fits."""
    where = where_of(at, layer)
    ranks, meaning = _RANKS.get(layer.type, (None, ""))
    if ranks and len(shape) not in ranks:
        hint = ("add Flatten before it" if len(shape) > max(ranks) else
                "it needs image-shaped input; for flat features use Linear" if layer.type.endswith("2d") else
                "reshape the input")
        raise ShapeError(f"needs input of shape {meaning}, got {_fmt(shape)}", where, hint)
    if "model" in layer.entry().tags and shape[0] != 3:
        raise ShapeError(f"takes 3-channel (RGB) images, got {shape[0]} channel{'s' if shape[0] > 1 else ''}", where,
                         "put Conv2d(out_channels=3, kernel_size=1) before it, or use colour images (e.g. cifar10)")
    kw = layer.kwargs(at)
    for name, (what, read) in _AUTO.items():
        if name not in kw:
            continue
        have = read(shape) if shape else None
        if kw[name] == "auto":
            kw[name] = have
        elif have is not None and kw[name] != have:
            if name == "in_features" and len(shape) > 1:
                fix = f"add a Flatten before it; then in_features is {math.prod(shape)} (or set it to 'auto')"
                got = f"input of shape {_fmt(shape)}"
            else:
                fix = f"set {name} to {have} or 'auto'"
                got = str(have)
            raise ShapeError(f"expects {kw[name]} {what}, got {got}", where, fix)
    if layer.type == "LayerNorm" and isinstance(kw["normalized_shape"], int):
        kw["normalized_shape"] = (kw["normalized_shape"],)
    return kw


def run_on_meta(module, x: torch.Tensor):
    """``module(x)`` in eval mode under no_grad, run on the meta device: shapes only, no arithmetic and no memory
    (``x`` and every parameter and buffer become meta tensors; the module itself is untouched). Every layer of
    the catalog runs there; a module with an op that has no meta kernel raises NotImplementedError."""
    state = {n: t.to("meta") for n, t in [*module.named_parameters(), *module.named_buffers()]}
    with eval_mode(module), torch.no_grad():
        return functional_call(module, state, (x.to("meta"),))


def _check_dims(module, ndim: int) -> None:
    """A ``dim`` out of range (Softmax, Flatten's start/end): real tensors raise IndexError, meta ones do not."""
    for name in ("dim", "start_dim", "end_dim"):
        d = getattr(module, name, None)
        if isinstance(d, int) and not -ndim <= d < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                             f"but got {d})")


def forward_shape(module, shape: tuple, layer: LayerSpec, at: str) -> tuple:
    x = torch.zeros(2, *shape, device="meta")
    try:
        try:
            _check_dims(module, x.ndim)
            y = run_on_meta(module, x)
        except NotImplementedError:                  # an op without a meta kernel: real zeros
            with eval_mode(module), torch.no_grad():
                y = module(torch.zeros(2, *shape))
    except (RuntimeError, IndexError, ValueError) as e:   # IndexError: a dim out of range (Softmax, Flatten)
        msg = str(e).splitlines()[0]
        raise ShapeError(f"does not fit input of shape {_fmt(shape)}: {msg}", where_of(at, layer),
                         "make the kernel/window smaller, add padding, or remove a pooling layer before it") from None
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise ShapeError(f"mixes the batch dimension into the sample: output {_fmt(tuple(y.shape))} for a batch "
                         f"{_fmt(tuple(x.shape))}", where_of(at, layer), "keep dimension 0 for the batch, e.g. start_dim=1")
    out = tuple(y.shape[1:])
    if any(s <= 0 for s in out):
        raise ShapeError(f"output shape {_fmt(out)} is empty for input {_fmt(shape)}", where_of(at, layer),
                         "make the kernel/window smaller or add padding")
    return out
