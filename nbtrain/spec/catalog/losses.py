"""Losses (torch.nn) and metrics a run can report."""
from __future__ import annotations

from torch import nn

from .params import P, Table, entry

_red = P("choice", "how per-sample losses are combined", choices=["mean", "sum"])
_beta = P("float", "threshold between the L2 and L1 regions", low=0)

LOSSES = Table("loss", [
    entry("CrossEntropyLoss", nn.CrossEntropyLoss, "classification from raw logits and class indices", {
        "label_smoothing": P("float", "amount of smoothing of the targets", low=0, high=1), "reduction": _red},
        tags=["classification"]),
    entry("NLLLoss", nn.NLLLoss, "classification from log-probabilities (after LogSoftmax)", {"reduction": _red},
          tags=["classification"]),
    entry("MSELoss", nn.MSELoss, "mean squared error, for regression", {"reduction": _red}, tags=["regression"]),
    entry("L1Loss", nn.L1Loss, "mean absolute error, for regression", {"reduction": _red}, tags=["regression"]),
    entry("SmoothL1Loss", nn.SmoothL1Loss, "Huber-like loss, for regression", {"beta": _beta, "reduction": _red},
          tags=["regression"]),
    entry("HuberLoss", nn.HuberLoss, "squared error below delta, absolute error above, for regression", {
        "delta": P("float", "threshold between the L2 and L1 regions", low=0, low_open=True), "reduction": _red},
          tags=["regression"]),
    entry("BCEWithLogitsLoss", nn.BCEWithLogitsLoss, "binary / multi-label classification from logits", {
        "reduction": _red}, tags=["binary"]),
    entry("BCELoss", nn.BCELoss, "binary classification from probabilities (after a Sigmoid): float 0/1 targets "
          "shaped like the output, e.g. (N, 1)", {"reduction": _red}, tags=["binary", "probs"]),
])


# Each metric's batch function: on the device, returns a 0-d tensor, the metric summed over the batch's
# samples (the Accumulator adds them up and divides by the sample count at log points; no host sync). Each is
# self-contained (torch only), so the exported script can carry its source (inspect.getsource).
def accuracy_sum(out, y, threshold=0.0):
    """How many samples' top prediction is the target (class indices), or, for binary / multi-label outputs
    (float targets or one output), the fraction of each sample's outputs on the side of ``threshold`` its 0/1
    target is: 0 for logits (BCEWithLogitsLoss), 0.5 for probabilities (a Sigmoid, then BCELoss)."""
    if y.dtype.is_floating_point or out.ndim == 1 or out.shape[-1] == 1:
        y = y.reshape(out.shape) if y.numel() == out.numel() and y.shape != out.shape else y
        hit = ((out > threshold) == (y > 0.5)).float()
        return hit.reshape(hit.shape[0], -1).mean(1).sum() if hit.ndim > 1 else hit.sum()
    return (out.argmax(1) == y).sum()


def topk_sum(out, y, k=5):
    """How many samples' target is among their top ``k`` predictions."""
    k = min(k, out.shape[1])
    return (out.topk(k, 1).indices == y[:, None]).any(1).sum()


def mae_sum(out, y):
    """The mean absolute error of each sample, summed over the samples."""
    y = y.reshape(out.shape) if y.numel() == out.numel() and y.shape != out.shape else y
    err = (out.float() - y.float()).abs()
    return err.reshape(err.shape[0], -1).mean(1).sum() if err.ndim > 1 else err.sum()


METRICS = Table("metric", [
    entry("accuracy", accuracy_sum, "fraction of samples whose top prediction is the target", {
        "threshold": P("float", "binary outputs: the value above which a sample counts as class 1 (fit sets it from "
                       "the loss: 0 for logits, 0.5 after a Sigmoid for BCELoss)")}, tags=["classification", "max"]),
    entry("topk_accuracy", topk_sum, "fraction of samples whose target is among the top k predictions", {
        "k": P("int", "how many top predictions count", default=5, low=1)}, tags=["classification", "max"]),
    entry("mae", mae_sum, "mean absolute error, for regression", {}, tags=["regression", "min"]),
])
