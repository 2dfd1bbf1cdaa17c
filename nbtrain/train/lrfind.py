"""The LR range test: raise the learning rate exponentially over a few batches, record the loss,
and suggest the LR where the loss falls fastest. Weights, optimizer state and RNG state are restored.

Each batch goes through fit()'s own train step (nbtrain.train.steps.make_train_step): the same zero_grad, forward under
autocast, backward, gradient clipping and step (a closure for LBFGS, the GradScaler for fp16)."""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field

import torch

from .. import viz
from ..build.data import build_data
from ..build.model import build_model
from ..build.modes import module_modes, restore_modes
from ..build.optim import build_optimizer
from ..env import pick_device
from ..errors import NbtrainError
from ..spec.catalog import LOSSES
from .rng import rng_state, seed_everything, set_rng_state
from .steps import make_train_step


@dataclass
class LRFindResult:
    """What the range test saw: ``lrs[i]`` was used for the step whose smoothed loss is ``losses[i]``."""
    lrs: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    suggestion: float | None = None

    def figure(self):
        """A matplotlib Figure (Agg, outside pyplot) of loss against LR with the suggestion marked."""
        return viz.lr_find_figure(self.lrs, self.losses, self.suggestion)

    def _repr_png_(self):
        return viz.to_png(self.figure())


@contextlib.contextmanager
def _kept_rng(generator=None):
    """Every global RNG (python, numpy, torch, CUDA) and ``generator`` put back on exit (nbtrain.train.rng)."""
    state = rng_state(generator)
    try:
        yield
    finally:
        set_rng_state(state, generator)


@contextlib.contextmanager
def _kept(model, optimizer, generator=None):
    """And the model's weights and buffers, every module's train/eval mode and the optimizer's state."""
    weights, opt = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    modes = module_modes(model)
    try:
        with _kept_rng(generator):
            yield
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(opt)
        restore_modes(modes)


def suggest(lrs, losses, skip_start: int = 3, skip_end: int = 2) -> float | None:
    """The LR at the steepest fall of the loss against log(LR); None when too few points."""
    pts = list(zip(lrs, losses))[skip_start:len(lrs) - skip_end]
    if len(pts) < 3:
        return None
    slopes = [(b[1] - a[1]) / (math.log(b[0]) - math.log(a[0])) for a, b in zip(pts, pts[1:])]
    i = min(range(len(slopes)), key=slopes.__getitem__)
    return pts[i][0]


def _from_spec(spec):
    seed_everything(spec.loop.seed)
    data = build_data(spec.data, loss=spec.loop.loss)   # a binary loss: float (N, 1) targets, as fit()
    model = build_model(spec.model, data.input_shape).to(pick_device(spec.loop.device))
    optimizer = build_optimizer(spec.optim, model)
    loss = LOSSES.get_entry(spec.loop.loss, "loop.loss").build(**LOSSES[spec.loop.loss].kwargs(spec.loop.loss_params))
    return model, data, optimizer, loss


def lr_find(spec=None, *, model=None, data=None, optimizer=None, loss=None, start_lr: float = 1e-7,
            end_lr: float = 10.0, num_steps: int = 100, beta: float = 0.98, diverge: float = 4.0,
            amp: str | None = None, grad_clip: float | None = None) -> LRFindResult:
    """Run the LR range test on ``spec`` (a TrainSpec: its model built as fit builds it, on its device) or on
    a ``model``, ``data`` (a DataBundle or an iterable of (x, y) batches), ``optimizer`` and ``loss``.

    The LR of every param group goes from ``start_lr`` to ``end_lr`` exponentially over ``num_steps``
    batches; the test stops early when the smoothed loss exceeds ``diverge`` times its best. Returns an
    LRFindResult; the model's weights and buffers, the optimizer's state, the model's train/eval mode and
    the RNG states (torch, CUDA, python, numpy, the data's generator) are as before when it returns.
    Each batch is one step of fit()'s train step, with ``amp`` and ``grad_clip`` as fit() takes them (by default
    the spec's ``loop.amp`` and ``loop.grad_clip``; without a spec, 'off' and 0)."""
    if spec is not None:
        with _kept_rng():  # built as fit builds it (seeded), without moving the caller's RNG
            model, data, optimizer, loss = _from_spec(spec)
    if model is None or data is None:
        raise NbtrainError("needs a spec, or a model and data", "lr_find", "call lr_find(spec) or lr_find(model=..., data=...)")
    if not 0 < start_lr < end_lr:
        raise NbtrainError(f"needs 0 < start_lr < end_lr, got {start_lr:g} and {end_lr:g}", "lr_find",
                           "e.g. start_lr=1e-7, end_lr=10")
    if num_steps < 2:
        raise NbtrainError(f"num_steps must be >= 2, got {num_steps}", "lr_find")
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=start_lr)
    loss = loss or torch.nn.CrossEntropyLoss()
    device = next(model.parameters()).device
    amp = amp or (spec.loop.amp if spec is not None else "off")
    clip = grad_clip if grad_clip is not None else (spec.loop.grad_clip if spec is not None else 0.0)
    step = make_train_step(model, loss, optimizer, amp=amp, grad_clip=clip, device_type=device.type,
                           scaler=torch.amp.GradScaler(device.type, enabled=amp == "fp16"))
    lrs = [start_lr * (end_lr / start_lr) ** (i / (num_steps - 1)) for i in range(num_steps)]
    result = LRFindResult()
    with _kept(model, optimizer, getattr(data, "train_generator", None)):
        model.train()
        _sweep(step, getattr(data, "train", data), device, optimizer, lrs, result, beta, diverge)
    result.suggestion = suggest(result.lrs, result.losses)
    return result


def _sweep(step, batches, device, optimizer, lrs, result: LRFindResult, beta: float, diverge: float) -> None:
    """One train step per LR of ``lrs`` (the loader restarted as needed), recording the smoothed loss, until
    the LRs run out or the loss diverges."""
    avg, best, i = 0.0, math.inf, 0
    while i < len(lrs):
        n_before = i
        for x, y in batches:
            for g in optimizer.param_groups:
                g["lr"] = lrs[i]
            value, _ = step(x.to(device), y.to(device))
            avg = beta * avg + (1 - beta) * float(value)
            smoothed = avg / (1 - beta ** (i + 1))
            result.lrs.append(lrs[i])
            result.losses.append(smoothed)
            best = min(best, smoothed)
            i += 1
            if i >= len(lrs) or not math.isfinite(smoothed) or smoothed > diverge * best:
                return
        if i == n_before:
            raise NbtrainError("the training data gave no batches", "lr_find", "check the dataset and batch_size")
