"""The single source of truth for what a spec can name: each family a Table of name -> Entry.

Builders, spec validation, the loop, the doctor, codegen and widgets all read these tables; the facts
below (which schedulers step per batch, what kind of target a loss wants, which transforms are random,
which layers are convolutions) are read from the entries' tags, never kept as lists elsewhere.
"""
from __future__ import annotations

import inspect

from .layers import INITS, LAYERS
from .losses import LOSSES, METRICS
from .optim import OPTIMIZERS, SCHEDULERS
from .params import REQUIRED, Entry, P, Param, Table, entry, signature_defaults, to_torch
from .transforms import RANDOM_OUTSIDE_CATALOG, TRANSFORMS

__all__ = ["LAYERS", "INITS", "OPTIMIZERS", "SCHEDULERS", "LOSSES", "METRICS", "TRANSFORMS",
           "Entry", "Param", "Table", "P", "entry", "REQUIRED", "signature_defaults", "to_torch",
           "entry_of", "tags_of", "is_per_step", "loss_kind", "binary_threshold", "default_lr", "is_random", "is_conv", "metric_mode",
           "LOSS_KINDS"]

LOSS_KINDS = ("classification", "regression", "binary")


def entry_of(table: Table, obj) -> Entry | None:
    """The entry of ``table`` whose class ``obj`` is an instance of (subclasses count), or None."""
    for e in table.values():
        if inspect.isclass(e.build) and isinstance(obj, e.build):
            return e
    return None


def tags_of(table: Table, obj) -> frozenset:
    """The tags of the entry ``obj`` was built from (by its class), or no tags for a class the table lacks."""
    e = entry_of(table, obj)
    return e.tags if e is not None else frozenset()


def is_per_step(scheduler) -> bool:
    """Whether a torch scheduler steps after every batch (tag ``per_step``) rather than every epoch."""
    return "per_step" in tags_of(SCHEDULERS, scheduler)


def _loss_tags(loss) -> frozenset:
    if isinstance(loss, str):
        return LOSSES[loss].tags if loss in LOSSES else frozenset()
    return tags_of(LOSSES, loss)


def loss_kind(loss_fn) -> str:
    """'classification', 'regression' or 'binary' for a loss module (or name) the catalog knows ('' otherwise).
    A binary loss takes float 0/1 targets shaped like the output (N, 1): the data builder makes them so."""
    return next((k for k in LOSS_KINDS if k in _loss_tags(loss_fn)), "")


def binary_threshold(loss_fn) -> float:
    """Where a binary output is split into class 0 and 1 for accuracy: 0.5 for a loss tagged ``probs`` (BCELoss
    takes probabilities, after a Sigmoid), else 0 (logits, BCEWithLogitsLoss)."""
    return 0.5 if "probs" in _loss_tags(loss_fn) else 0.0


def default_lr(optimizer: str) -> float:
    """The learning rate a new choice of ``optimizer`` starts from: torch's default for it (Adadelta 1.0, Adagrad
    0.01, Adam 1e-3, LBFGS 1), SGD 0.01 (see nbtrain.spec.catalog.optim). The optimizer picker sets it on a type change."""
    return OPTIMIZERS.get_entry(optimizer, "optim.type").lr


def is_random(transform_name: str) -> bool:
    """Whether a transform (by its class name) draws random numbers per sample: the catalog's ``random``
    tag, and for torchvision transforms the catalog does not list, their name (``Random...``) or
    ``RANDOM_OUTSIDE_CATALOG``."""
    e = TRANSFORMS.get(transform_name)
    if e is not None:
        return "random" in e.tags
    return transform_name.startswith("Random") or transform_name in RANDOM_OUTSIDE_CATALOG


HIGHER_IS_BETTER = ("acc", "f1", "precision", "recall", "auc", "r2")   # names of metrics outside the catalog


def metric_mode(key: str) -> str:
    """Whether a logged metric is better lower ("min") or higher ("max"): the catalog's ``max`` / ``min`` tag of
    the metric (``val_`` and ``swa_val_`` prefixes aside), the loss "min", and for a user's own metric its name
    (accuracy-, F1-, precision-, recall-, AUC- and R2-like names are better higher)."""
    name = key.removeprefix("swa_").removeprefix("val_")
    e = METRICS.get(name)
    if e is not None and ({"max", "min"} & e.tags):
        return "max" if "max" in e.tags else "min"
    return "max" if any(m in name for m in HIGHER_IS_BETTER) else "min"


def monitor_mode(key: str, mode: str = "auto") -> str:
    """The direction a monitor is judged in: ``mode`` when it is "min" or "max", with "auto" the metric's own
    (``metric_mode``: ``val_accuracy`` "max", ``val_loss`` "min"; Keras' ``mode="auto"``)."""
    return metric_mode(key) if mode == "auto" else mode


def is_conv(module) -> bool:
    """Whether a module is a convolution (tag ``conv``; subclasses such as LazyConv2d count)."""
    return "conv" in tags_of(LAYERS, module)


from . import inline  # noqa: E402,F401 - sets entry.inline on every entry (after the tables)
