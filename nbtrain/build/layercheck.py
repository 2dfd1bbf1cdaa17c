"""The run's first training forward, watched: a layer that cannot take what flows into it is named, with the
shape it got and how to fix it, in one ShapeError instead of torch's RuntimeError from deep inside the model.

No extra forward: hooks on every module watch the forward the first training step runs anyway, record input
shapes only, and are removed as soon as it returns. Weights, BatchNorm statistics and the RNG streams are those
of an unwatched step. The layer at fault is the innermost module whose forward was entered and not left when the
error came (a Linear inside a Sequential, a user's block whose ``x1 + x2`` did not fit).
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ..errors import NbtrainError, ShapeError, fmt_shape

TORCH_ERRORS = (RuntimeError, ValueError, IndexError)


def last_batch_size(loader) -> int | None:
    """How many samples the loader's last batch holds (None when it cannot tell: a custom batch sampler)."""
    bs, sampler = getattr(loader, "batch_size", None), getattr(loader, "sampler", None)
    if not bs or sampler is None or getattr(loader, "drop_last", False):
        return None
    try:
        n = len(sampler)
    except TypeError:
        return None
    return n % bs or bs


def _torch_says(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _bn_values(shape: tuple) -> int:
    """Values per channel a BatchNorm sees in a batch of this shape (batch x spatial)."""
    return shape[0] * math.prod(shape[2:]) if len(shape) >= 2 else 0


class Watch:
    """Hooks on every module of ``model`` while one forward runs: which module is running, what shape came in."""

    def __init__(self, model: nn.Module):
        self.names = {m: n for n, m in model.named_modules()}
        self.stack: list = []        # modules entered and not yet left
        self.inputs: dict = {}       # module -> shape of its first tensor input

    @contextlib.contextmanager
    def hooks(self):
        handles = []
        for m in self.names:
            handles += [m.register_forward_pre_hook(self._enter), m.register_forward_hook(self._leave)]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()

    def _enter(self, m, args) -> None:
        self.stack.append(m)
        t = next((a for a in args if isinstance(a, torch.Tensor)), None)
        self.inputs[m] = tuple(t.shape) if t is not None else None

    def _leave(self, m, args, out) -> None:
        if self.stack and self.stack[-1] is m:
            self.stack.pop()

    def where(self, m) -> str:
        name = self.names.get(m, "")
        return f"layer {name} ({type(m).__name__})" if name else f"the model ({type(m).__name__})"


def _linear(m: nn.Linear, shape: tuple, where: str) -> ShapeError:
    if len(shape) > 2:
        return ShapeError(f"gets a {len(shape)}-D input of shape {fmt_shape(shape)}, but Linear takes (batch, "
                          "features) rows", where, f"add Flatten before it; in_features should then be "
                          f"{math.prod(shape[1:])}")
    return ShapeError(f"gets input of shape {fmt_shape(shape)}, but its in_features is {m.in_features}", where,
                      f"in_features should be {shape[-1]} (or 'auto' in a spec)")


def _conv(m, shape: tuple, where: str, e: BaseException) -> ShapeError:
    d = len(m.kernel_size)
    if len(shape) not in (d + 1, d + 2):
        return ShapeError(f"gets input of shape {fmt_shape(shape)}, but {type(m).__name__} takes (batch, channels"
                          f"{', length' if d == 1 else ', height, width' if d == 2 else ', depth, height, width'})",
                          where, "remove the Flatten before it, or reshape the input to that layout")
    channels = shape[-(d + 1)]
    if channels != m.in_channels:
        return ShapeError(f"gets input of shape {fmt_shape(shape)} with {channels} channel{'s' * (channels != 1)}, "
                          f"but its in_channels is {m.in_channels}", where, f"in_channels should be {channels}")
    return ShapeError(f"cannot take its input of shape {fmt_shape(shape)} ({_torch_says(e)})", where,
                      "make kernel_size smaller, add padding, or remove a pooling layer before it")


def _batchnorm(m, shape: tuple, where: str, e: BaseException) -> ShapeError:
    if len(shape) >= 2 and shape[1] != m.num_features:
        return ShapeError(f"gets input of shape {fmt_shape(shape)} with {shape[1]} channel{'s' * (shape[1] != 1)}, "
                          f"but its num_features is {m.num_features}", where, f"num_features should be {shape[1]}")
    if m.training and _bn_values(shape) == 1:
        return ShapeError(f"gets a batch of 1 sample (input {fmt_shape(shape)}) in training, and BatchNorm needs "
                          "more than 1 value per channel", where, "use a batch size above 1 (and drop_last=True if the "
                          "last batch could hold a single sample)")
    return ShapeError(f"cannot take its input of shape {fmt_shape(shape)} ({_torch_says(e)})", where,
                      "make the layer fit that input, or change the layers before it")


def layer_error(watch: Watch, m, e: BaseException) -> ShapeError:
    """The ShapeError for module ``m`` that raised ``e`` on the input the watch saw."""
    shape, where = watch.inputs.get(m), watch.where(m)
    if shape is None:
        return ShapeError(f"failed on its input ({_torch_says(e)})", where, "check the layer against its input")
    if isinstance(m, nn.Linear):
        return _linear(m, shape, where)
    if isinstance(m, nn.modules.conv._ConvNd):
        return _conv(m, shape, where, e)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return _batchnorm(m, shape, where, e)
    return ShapeError(f"cannot take its input of shape {fmt_shape(shape)} ({_torch_says(e)})", where,
                      "make the layer's sizes fit that input, or change the layers before it")


class FirstBatch:
    """The first training step's forward and loss, watched (see the module docstring); ``check(out, y)`` runs
    between them (nbtrain.train.steps.check_batch), ``last_batch`` is the train loader's last batch size."""

    def __init__(self, model: nn.Module, check=None, last_batch: int | None = None):
        self.model, self.check, self.last_batch = model, check, last_batch

    def run(self, net, loss_fn, x, y):
        """``(output, loss)`` of ``net(x)``, as an unwatched step computes them, or one ShapeError."""
        watch = Watch(self.model)
        with watch.hooks():
            try:
                out = net(x)
            except NbtrainError:
                raise
            except TORCH_ERRORS as e:
                if not watch.stack:
                    raise
                raise layer_error(watch, watch.stack[-1], e) from None
        self._after_forward(watch, out, y, loss_fn)
        if self.check is not None:
            self.check(out, y)
        try:
            return out, loss_fn(out, y)
        except NbtrainError:
            raise
        except TORCH_ERRORS as e:
            raise ShapeError(f"{type(loss_fn).__name__} cannot take the model's output {fmt_shape(out.shape)} with "
                             f"targets {fmt_shape(y.shape)} ({_torch_says(e)})", "loss",
                             "make the last layer's output fit the targets, or choose the loss for this target "
                             "(nbtrain.spec.catalog.LOSSES)") from None

    def _after_forward(self, watch: Watch, out, y, loss_fn) -> None:
        """A Linear fed a 4-D input gives a 4-D output (no error there, but in the loss); a BatchNorm that would
        see a lone sample in the last batch fails at the epoch's end: both found now."""
        if isinstance(out, torch.Tensor) and isinstance(y, torch.Tensor) and out.ndim > 2 and y.ndim == 1:
            flat = [m for m in watch.names if isinstance(m, nn.Linear) and len(watch.inputs.get(m) or ()) > 2]
            if flat:
                m, shape = flat[-1], watch.inputs[flat[-1]]
                raise ShapeError(f"gets a {len(shape)}-D input of shape {fmt_shape(shape)}, so the model outputs "
                                 f"{fmt_shape(out.shape)}, but {type(loss_fn).__name__} needs (batch, classes)",
                                 watch.where(m), f"add Flatten before it; in_features should then be "
                                 f"{math.prod(shape[1:])}")
        if self.last_batch != 1:
            return
        for m, shape in watch.inputs.items():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and shape and \
                    _bn_values((1, *shape[1:])) == 1:
                raise ShapeError("the last training batch holds 1 sample, and BatchNorm needs more than 1 value per "
                                 "channel in training", watch.where(m),
                                 "set drop_last=True (data.drop_last in a spec, DataLoader(drop_last=True) for your "
                                 "own loader), or choose a batch size that does not leave a single sample")
