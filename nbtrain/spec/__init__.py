"""The spec: everything a user chooses, as flat dataclasses that round-trip through JSON (``trainspec``), the
machinery they share (``base``), the number checks and JSON reading they go through (``checks``, ``jsonread``), the
safe expression language of LambdaLR / MultiplicativeLR (``expr``), and the catalog of every component a spec can
name (``catalog``: the one source of each fact about a layer, optimizer, scheduler, loss, metric, transform, dataset).

The first stage: it imports none of the stages after it (build, train, sinks, widgets, codegen). ``from nbtrain.spec
import TrainSpec`` works as it always did; the names load on first use, so importing ``nbtrain.spec.catalog`` does
not import the dataclasses (nbtrain's own modules import them from ``nbtrain.spec.trainspec``)."""
from __future__ import annotations

import importlib

__all__ = ["DataSpec", "LayerSpec", "LoopSpec", "ModelSpec", "OptimSpec", "ParamGroupSpec", "SchedSpec", "TrainSpec",
           "TransformSpec"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'nbtrain.spec' has no attribute {name!r}")
    return getattr(importlib.import_module("nbtrain.spec.trainspec"), name)
