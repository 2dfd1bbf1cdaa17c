"""fit(): the training loop. It owns the order of events; sinks (callbacks) own every side effect.

Nothing is printed or drawn here. Correct by construction:
- the model in train mode at every training step (a probe or a callback calling ``model.eval()`` mid-epoch
  cannot leave it off; a layer frozen alone with ``.eval()``, as in fine-tuning, stays frozen);
- validation under ``model.eval()`` and ``torch.no_grad()``, the caller's mode restored afterwards;
- ``zero_grad``, ``backward``, ``step`` in that order; the schedule stepped after every optimizer step
  and at every epoch end (it decides which counts, and feeds ReduceLROnPlateau its metric);
- losses and metrics accumulate on the device and are read only at log points.
"""
from __future__ import annotations

import contextlib
import dataclasses
import random

import numpy as np
import torch

from .errors import NbtrainError, fmt_shape
from .metrics import Accumulator, means
from .spec import LoopSpec, TrainSpec

CLASS_LOSSES = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)
REGRESSION_LOSSES = (torch.nn.MSELoss, torch.nn.L1Loss, torch.nn.SmoothL1Loss, torch.nn.HuberLoss)


# -- step factories --------------------------------------------------------------------------------
def autocast(amp: str, device_type: str):
    """The autocast context for ``amp`` ('off', 'bf16', 'fp16')."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def make_train_step(model, loss_fn, optimizer, *, amp: str = "off", scaler=None, grad_clip: float = 0.0,
                    device_type: str = "cpu"):
    """``step(x, y, check=None) -> (loss, output)``, both detached; zero_grad, forward, backward, step."""
    params = [p for g in optimizer.param_groups for p in g["params"]]

    def step(x, y, check=None):
        optimizer.zero_grad(set_to_none=True)
        with autocast(amp, device_type):
            out = model(x)
            if check is not None:
                check(out, y)
            loss = loss_fn(out, y)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
        return loss.detach(), out.detach()
    return step


def make_eval_step(model, loss_fn, *, amp: str = "off", device_type: str = "cpu"):
    """``step(x, y) -> (loss, output)`` without gradients; the caller puts the model in eval mode."""
    @torch.no_grad()
    def step(x, y):
        with autocast(amp, device_type):
            out = model(x)
            return loss_fn(out, y).detach(), out.detach()
    return step


def module_modes(model) -> list:
    """Every module's train/eval mode, for ``restore_modes``: a layer frozen alone (a BatchNorm in eval mode
    inside a training model) is put back frozen, where ``model.train(was)`` would unfreeze it."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(modes: list) -> None:
    for m, training in modes:
        m.training = training


@contextlib.contextmanager
def eval_mode(model):
    """model.eval() inside; afterwards every module's mode is put back as it was (see ``module_modes``)."""
    modes = module_modes(model)
    model.eval()
    try:
        yield model
    finally:
        restore_modes(modes)


def evaluate(model, loader, eval_step, acc: Accumulator, device, prefix: str = "val_") -> dict:
    """Mean loss and metrics over ``loader`` under eval mode and no_grad (the model's mode is restored)."""
    acc.reset()
    with eval_mode(model), torch.no_grad():
        for x, y in loader:
            x, y = _to(x, device), _to(y, device)
            loss, out = eval_step(x, y)
            acc.update(loss, out, y)
    return means(acc.read(), acc.names, prefix=prefix)


def _to(t, device):
    return t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t


# -- checks on the first batch (once per run: this reads values back) ------------------------------
def _shape(t) -> str:
    return fmt_shape(t.shape)


def check_batch(out, y, loss_fn, num_classes=None) -> None:
    """Catch a loss that does not fit the target and an output size that does not fit the classes."""
    lname = type(loss_fn).__name__
    if isinstance(loss_fn, CLASS_LOSSES) and y.dtype.is_floating_point and y.shape != out.shape:
        raise NbtrainError(f"{lname} needs class indices (int64) as targets, got {str(y.dtype)[6:]} targets "
                           f"of shape {_shape(y)}", "loss",
                           "use MSELoss or L1Loss for a regression target, or convert the targets with y.long()")
    if isinstance(loss_fn, REGRESSION_LOSSES) and not y.dtype.is_floating_point:
        raise NbtrainError(f"{lname} needs float targets shaped like the output {_shape(out)}, got "
                           f"{str(y.dtype)[6:]} class indices of shape {_shape(y)}", "loss",
                           "use CrossEntropyLoss for classification, or a float regression target")
    if isinstance(loss_fn, CLASS_LOSSES) and out.ndim == 2:
        if num_classes and out.shape[1] != num_classes:
            raise NbtrainError(f"the model outputs {out.shape[1]} values per sample but the data has "
                               f"{num_classes} classes", "model (last layer)",
                               f"set the last layer's out_features to {num_classes}")
        top = int(y.max()) if y.numel() else 0
        if top >= out.shape[1]:
            raise NbtrainError(f"the model outputs {out.shape[1]} values per sample but the targets go up to "
                               f"class {top}", "model (last layer)", f"set the last layer's out_features to {top + 1}")


# -- fit -------------------------------------------------------------------------------------------
def _loop_spec(spec, epochs, overrides: dict) -> LoopSpec:
    known = {f.name for f in dataclasses.fields(LoopSpec)}
    for k in overrides:
        if k not in known:
            raise NbtrainError(f"unknown argument {k!r}", "fit",
                               "known: spec, model, data, train, val, optimizer, scheduler, loss, callbacks, resume, "
                               "background, dashboard, progress and the LoopSpec fields " + ", ".join(sorted(known)))
    if spec is not None:
        base = spec.loop.to_dict()
    else:  # parts a user built: write no files unless asked
        base = LoopSpec(logdir="", checkpoint_dir="").to_dict()
    base.update(overrides)
    if epochs is not None:
        base["epochs"] = epochs
    return LoopSpec.from_dict(base, "loop")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(spec=None, *, model=None, data=None, train=None, val=None, optimizer=None, scheduler=None, loss=None,
        epochs=None, callbacks=(), resume=None, background=False, dashboard="auto", progress=True, doctor=True,
        **loop):
    """Train and return a History (or, with ``background=True``, a ``nbtrain.run.Run``).

    Give a TrainSpec (or the path of a JSON spec; ``model``, ``optimizer``, ``scheduler`` or ``loss`` given
    with it replace the built ones), or parts you built: ``model`` with ``train`` (and
    ``val``) loaders or ``data`` (a DataBundle or a ``(train, val)`` pair), and optionally ``optimizer``
    (default Adam 1e-3), ``scheduler`` (a torch scheduler or a ``Schedule``), ``loss`` (a module or a
    name). Any LoopSpec field can be passed as a keyword (``device``, ``amp``, ``grad_clip``, ``seed``,
    ``logdir``, ``checkpoint_dir``, ``early_stopping`` ...). ``resume`` is a checkpoint path: training goes on
    from there bit for bit (weights, optimizer, schedule, scaler, RNGs, loader order, History), also from
    ``interrupted.pt`` or a ``last.pt`` written mid-epoch (the batches already done are skipped).
    ``dashboard``: "auto" (the live dashboard in a notebook, else a tqdm bar), True, False or a Callback.
    ``doctor``: the training doctor (nbtrain.sinks.doctor), on by default: it warns once per likely mistake
    (Softmax before CrossEntropyLoss, unnormalized inputs, loss rising ...), each with its fix.
    """
    if background:
        from .run import Run
        return Run.start(spec=spec, model=model, data=data, train=train, val=val, optimizer=optimizer,
                         scheduler=scheduler, loss=loss, epochs=epochs, callbacks=callbacks, resume=resume,
                         dashboard=dashboard, progress=progress, doctor=doctor, **loop)
    if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__"):
        spec = TrainSpec.load(spec)
    if spec is not None and not isinstance(spec, TrainSpec):
        raise NbtrainError(f"expected a TrainSpec or the path of a JSON spec, got {type(spec).__name__}", "fit(spec)",
                           "use nbtrain.TrainSpec.default() or pass model= and train=")
    if spec is not None and (data is not None or train is not None or val is not None):
        raise NbtrainError("a TrainSpec builds its own data", "fit",
                           "edit spec.data, or pass model= with train=/val= (or data=) and no spec")
    ls = _loop_spec(spec, epochs, loop)
    from .loop_run import Trainer
    return Trainer(spec, ls, dict(model=model, data=data, train=train, val=val, optimizer=optimizer,
                                  scheduler=scheduler, loss=loss), callbacks, resume, dashboard, progress,
                   doctor).run()


__all__ = ["fit", "make_train_step", "make_eval_step", "evaluate", "eval_mode", "check_batch", "seed_everything"]
