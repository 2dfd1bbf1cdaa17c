"""nbtrain: build, train and watch PyTorch models from a notebook.

Public names are re-exported lazily, so ``import nbtrain`` stays light: it imports none of
ipywidgets, matplotlib or tensorboardX (and not even torch) until a name that needs them is used.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # spec and errors
    "TrainSpec": "spec", "DataSpec": "spec", "TransformSpec": "spec", "ModelSpec": "spec", "LayerSpec": "spec",
    "OptimSpec": "spec", "ParamGroupSpec": "spec", "SchedSpec": "spec", "LoopSpec": "spec",
    "NbtrainError": "errors", "SpecError": "errors", "ShapeError": "errors", "DataError": "errors",
    "CheckpointError": "errors",
    # builders
    "build_model": "model", "summary": "model", "model_code": "model",
    "build_optimizer": "optim", "build_scheduler": "optim", "lr_curve": "optim",
    "build_data": "data", "normalize_stats": "data", "sample_grid": "data",
    # training
    "fit": "loop", "History": "history", "Callback": "callbacks",
    "load_checkpoint": "resume", "lr_find": "lrfind", "to_code": "codegen",
    "tensorboard": "tblaunch", "Run": "background", "State": "callbacks",
    # what the model gets wrong (from what validation collected)
    "top_losses": "insight", "plot_top_losses": "insight", "plot_confusion": "insight", "plot_residuals": "insight",
    # sinks (fit() assembles them by default; pass your own in callbacks=[...])
    "Dashboard": "sinks.dashboard", "Doctor": "sinks.doctor", "Checkpoint": "sinks.checkpoint",
    "TensorBoard": "sinks.tensorboard", "EarlyStopping": "sinks.early_stop", "NanGuard": "sinks.nan_guard",
    "ProgressBar": "sinks.progress", "Control": "sinks.control", "LayerStats": "sinks.layerstats",
    "export_html": "sinks.dashboard",
    # notebook
    "Workbench": "widgets",
    "runs": "runtable", "Runs": "runtable", "RunInfo": "sinks.runinfo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'nbtrain' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nbtrain.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
