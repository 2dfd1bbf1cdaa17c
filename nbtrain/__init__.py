"""nbtrain: build, train and watch PyTorch models from a notebook.

Public names are re-exported lazily, so ``import nbtrain`` stays light: it imports none of
ipywidgets, matplotlib or tensorboardX (and not even torch) until a name that needs them is used.
"""
from __future__ import annotations

import importlib

from . import _moved

__version__ = "0.1.0"

_EXPORTS = {
    # spec and errors
    "TrainSpec": "spec.trainspec", "DataSpec": "spec.trainspec", "TransformSpec": "spec.trainspec",
    "ModelSpec": "spec.trainspec", "LayerSpec": "spec.trainspec", "OptimSpec": "spec.trainspec",
    "ParamGroupSpec": "spec.trainspec", "SchedSpec": "spec.trainspec", "LoopSpec": "spec.trainspec",
    "NbtrainError": "errors", "SpecError": "errors", "ShapeError": "errors", "DataError": "errors",
    "CheckpointError": "errors",
    # builders
    "build_model": "build.model", "summary": "build.model", "model_code": "build.model",
    "build_optimizer": "build.optim", "build_scheduler": "build.optim", "lr_curve": "build.optim",
    "build_data": "build.data", "normalize_stats": "build.data", "sample_grid": "build.data",
    # training
    "fit": "train.loop", "History": "train.history", "Callback": "train.callbacks",
    "load_checkpoint": "train.resume", "lr_find": "train.lrfind", "to_code": "codegen",
    "tensorboard": "review.tblaunch", "Run": "train.background", "State": "train.callbacks",
    # what the model gets wrong (from what validation collected)
    "top_losses": "train.insight", "plot_top_losses": "train.insight", "plot_confusion": "train.insight",
    "plot_residuals": "train.insight",
    # sinks (fit() assembles them by default; pass your own in callbacks=[...])
    "Dashboard": "sinks.dashboard", "Doctor": "sinks.doctor", "Checkpoint": "sinks.checkpoint",
    "TensorBoard": "sinks.tensorboard", "EarlyStopping": "sinks.early_stop", "NanGuard": "sinks.nan_guard",
    "ProgressBar": "sinks.progress", "Control": "sinks.control", "LayerStats": "sinks.layerstats",
    "export_html": "sinks.dashboard",
    # notebook
    "Workbench": "widgets",
    "runs": "review.runtable", "Runs": "review.runtable", "RunInfo": "sinks.runinfo",
}

__all__ = sorted(_EXPORTS)

_moved.install()   # old module paths (nbtrain.loop, nbtrain.catalog, ...) keep working


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'nbtrain' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nbtrain.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
