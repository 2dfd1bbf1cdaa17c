"""The step functions the loop runs, made by small factories, and the checks on a run's first batch.

``make_train_step``: zero_grad, forward (under autocast), backward, gradient clipping, step (through the
GradScaler with fp16); ``make_eval_step``: forward under ``torch.no_grad()``; ``evaluate``: mean loss and metrics
over a loader in eval mode, every module's mode put back afterwards. The steps themselves are
nbtrain.train.plain's, the code an exported script runs (``to_code`` emits it verbatim); here, the checks.
"""
from __future__ import annotations

import torch

from ..errors import NbtrainError, fmt_shape
from ..spec.catalog import loss_kind
from . import plain
from .metrics import Accumulator, means
from .plain import autocast

__all__ = ["autocast", "check_batch", "evaluate", "make_eval_step", "make_train_step"]


def make_train_step(model, loss_fn, optimizer, *, amp: str = "off", scaler=None, grad_clip: float = 0.0,
                    device_type: str = "cpu"):
    """``step(x, y, forward=None) -> (loss, output)``, both detached: nbtrain.train.plain.make_train_step (the
    step an exported script runs too), after the checks on its arguments.

    ``forward``: ``nbtrain.build.layercheck.FirstBatch.run``, which watches this step's forward (the run's first), no
    extra forward. LBFGS (torch.optim.LBFGS) re-evaluates the loss: its step gets a closure (zero_grad, forward,
    loss, backward, clipping) and the step's loss and output are those of the closure's first evaluation."""
    if isinstance(optimizer, torch.optim.LBFGS) and scaler is not None and scaler.is_enabled():
        raise NbtrainError("LBFGS cannot train with amp 'fp16' (the GradScaler does not take a closure)", "loop.amp",
                           "set amp to 'off' or 'bf16'")
    return plain.make_train_step(model, loss_fn, optimizer, amp, scaler, grad_clip, device_type)


def make_eval_step(model, loss_fn, *, amp: str = "off", device_type: str = "cpu"):
    """``step(x, y) -> (loss, output)`` without gradients (nbtrain.train.plain); the caller sets eval mode."""
    return plain.make_eval_step(model, loss_fn, amp, device_type)


def evaluate(model, loader, eval_step, acc: Accumulator, device, prefix: str = "val_") -> dict:
    """Mean loss and metrics over ``loader`` under eval mode and no_grad (every module's mode is restored)."""
    acc.reset()
    plain.evaluate(model, loader, eval_step, acc.update, device)
    return means(acc.read(), acc.names, prefix=prefix)


# -- checks on the first batch (once per run: this reads values back) ------------------------------
def _shape(t) -> str:
    return fmt_shape(t.shape)


def check_batch(out, y, loss_fn, num_classes=None, labels=None) -> None:
    """Catch a loss that does not fit the target and an output size that does not fit the classes; what a loss
    wants is the kind tag of its catalog entry (nbtrain.spec.catalog.loss_kind). ``labels``: the lowest and highest
    class index of each split, where the data builder had them at hand (nbtrain.build.data.sanity.label_bounds)."""
    lname, kind = type(loss_fn).__name__, loss_kind(loss_fn)
    if not isinstance(out, torch.Tensor):      # the step detaches it, the loss and the metrics read it
        raise NbtrainError(f"the model's forward returns a {type(out).__name__}, not one tensor of outputs",
                           "model.forward", "return only the outputs, e.g. `return logits`, not `return logits, "
                           "features` (keep other values on the module, e.g. `self.features = features`)")
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
        check_labels(labels or {}, out.shape[1])
        top = int(y.max()) if y.numel() else 0
        if top >= out.shape[1]:
            raise NbtrainError(f"the model outputs {out.shape[1]} values per sample but the targets go up to "
                               f"class {top}", "model (last layer)", f"set the last layer's out_features to {top + 1}")


def check_labels(labels: dict, outputs: int) -> None:
    """Every label of each split (its lowest and highest) is a class of the model's ``outputs``."""
    for split, (lo, at_lo, hi, at_hi) in labels.items():
        if lo < 0:
            raise NbtrainError(f"the {split} labels hold class {lo} (sample {at_lo}), but class indices start at 0",
                               f"{split} data", f"relabel the classes 0 to {outputs - 1}")
        if hi >= outputs:
            raise NbtrainError(f"the model outputs {outputs} values per sample but the {split} labels go up to class "
                               f"{hi} (sample {at_hi})", "model (last layer)",
                               f"set the last layer's out_features to {hi + 1}, or fix those labels (0 to {outputs - 1})")


def clear_error(e: BaseException) -> BaseException:
    """torch's raw error for a label out of range, met in training or validation where no check could see the
    labels before (a DataLoader over a dataset without ``targets``), as one clear error; any other error as it is."""
    if isinstance(e, IndexError) and str(e).startswith("Target ") and "out of bounds" in str(e):
        return NbtrainError(f"a label is not a class of the model's outputs (torch: {e})", "data (labels)",
                            "class indices must run from 0 to the model's outputs - 1: fix the labels or the last "
                            "layer's out_features; a dataset with .targets, or tensors (train=(x, y)), has every "
                            "label checked before training")
    return e
