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
    entry("BCEWithLogitsLoss", nn.BCEWithLogitsLoss, "binary / multi-label classification from logits", {
        "reduction": _red}, tags=["binary"]),
])


def _noop(**_):  # metrics are computed by the loop; the entry documents them
    return None


METRICS = Table("metric", [
    entry("accuracy", _noop, "fraction of samples whose top prediction is the target", {}, tags=["classification"]),
    entry("topk_accuracy", _noop, "fraction of samples whose target is among the top k predictions", {
        "k": P("int", "how many top predictions count", default=5, low=1)}, tags=["classification"]),
    entry("mae", _noop, "mean absolute error, for regression", {}, tags=["regression"]),
])
