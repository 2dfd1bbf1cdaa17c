"""The step functions the loop runs, made by small factories, and the checks on a run's first batch.

``make_train_step``: zero_grad, forward (under autocast), backward, gradient clipping, step (through the
GradScaler with fp16); ``make_eval_step``: forward under ``torch.no_grad()``; ``evaluate``: mean loss and metrics
over a loader in eval mode, every module's mode put back afterwards.
"""
from __future__ import annotations

import torch

from ..build.modes import eval_mode
from ..errors import NbtrainError, fmt_shape
from ..spec.catalog import loss_kind
from .metrics import Accumulator, means


def autocast(amp: str, device_type: str):
    """The autocast context for ``amp`` ('off', 'bf16', 'fp16'); 'off' is torch's autocast with enabled=False."""
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type, dtype=dtype, enabled=amp != "off")


def make_train_step(model, loss_fn, optimizer, *, amp: str = "off", scaler=None, grad_clip: float = 0.0,
                    device_type: str = "cpu"):
    """``step(x, y, first=None) -> (loss, output)``, both detached; zero_grad, forward, backward, step.

    ``first``: a ``nbtrain.build.layercheck.FirstBatch`` that watches this step's forward (the run's first), no extra
    forward. LBFGS (torch.optim.LBFGS) re-evaluates the loss: its step gets a closure (zero_grad, forward, loss,
    backward, clipping) and the step's loss and output are those of the closure's first evaluation."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if scaler is None:
        scaler = torch.amp.GradScaler(device_type, enabled=False)
    if isinstance(optimizer, torch.optim.LBFGS) and scaler.is_enabled():
        raise NbtrainError("LBFGS cannot train with amp 'fp16' (the GradScaler does not take a closure)", "loop.amp",
                           "set amp to 'off' or 'bf16'")

    def forward(x, y, first):
        with autocast(amp, device_type):
            if first is not None:
                return first.run(model, loss_fn, x, y)
            out = model(x)
            return out, loss_fn(out, y)

    def clip():
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)

    def step(x, y, first=None):
        optimizer.zero_grad(set_to_none=True)
        out, loss = forward(x, y, first)
        scaler.scale(loss).backward()                 # a disabled GradScaler (amp != 'fp16') passes through
        clip()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach(), out.detach()

    def closure_step(x, y, first=None):
        seen = []

        def closure():
            optimizer.zero_grad(set_to_none=True)
            out, loss = forward(x, y, None if seen else first)
            loss.backward()
            clip()
            if not seen:
                seen.append((loss.detach(), out.detach()))
            return loss
        optimizer.step(closure)
        return seen[0]
    return closure_step if isinstance(optimizer, torch.optim.LBFGS) else step


def make_eval_step(model, loss_fn, *, amp: str = "off", device_type: str = "cpu"):
    """``step(x, y) -> (loss, output)`` without gradients; the caller puts the model in eval mode."""
    @torch.no_grad()
    def step(x, y):
        with autocast(amp, device_type):
            out = model(x)
            return loss_fn(out, y).detach(), out.detach()
    return step


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
    """Catch a loss that does not fit the target and an output size that does not fit the classes; what a loss
    wants is the kind tag of its catalog entry (nbtrain.spec.catalog.loss_kind)."""
    lname, kind = type(loss_fn).__name__, loss_kind(loss_fn)
    if kind == "classification" and y.dtype.is_floating_point and y.shape != out.shape:
        raise NbtrainError(f"{lname} needs class indices (int64) as targets, got {str(y.dtype)[6:]} targets "
                           f"of shape {_shape(y)}", "loss",
                           "use MSELoss or L1Loss for a regression target, or convert the targets with y.long()")
    if kind == "regression" and not y.dtype.is_floating_point:
        raise NbtrainError(f"{lname} needs float targets shaped like the output {_shape(out)}, got "
                           f"{str(y.dtype)[6:]} class indices of shape {_shape(y)}", "loss",
                           "use CrossEntropyLoss for classification, or a float regression target")
    if kind == "binary" and (not y.dtype.is_floating_point or y.shape != out.shape):
        raise NbtrainError(f"{lname} needs float 0/1 targets shaped like the output {_shape(out)}, got "
                           f"{str(y.dtype)[6:]} targets of shape {_shape(y)}", "loss", "give y.float().reshape(-1, 1) "
                           "with one output per sample, or CrossEntropyLoss for class indices")
    if kind == "classification" and out.ndim == 2:
        if num_classes and out.shape[1] != num_classes:
            raise NbtrainError(f"the model outputs {out.shape[1]} values per sample but the data has "
                               f"{num_classes} classes", "model (last layer)",
                               f"set the last layer's out_features to {num_classes}")
        top = int(y.max()) if y.numel() else 0
        if top >= out.shape[1]:
            raise NbtrainError(f"the model outputs {out.shape[1]} values per sample but the targets go up to "
                               f"class {top}", "model (last layer)", f"set the last layer's out_features to {top + 1}")
