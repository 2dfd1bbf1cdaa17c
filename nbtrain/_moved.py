"""Old import paths of the modules that moved into the stage packages (spec/, build/, train/, review/), kept working.

``import nbtrain.loop`` or ``from nbtrain.catalog import LAYERS`` gives the module at its new place (the same module
object, so patching either name patches both) and a DeprecationWarning that names the new path. A meta-path finder
placed first, so that a submodule of a moved package (``nbtrain.data.fast``) is never loaded a second time under its
old name."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module under nbtrain. -> its new place; a moved package's submodules follow it
MOVED = {
    "specbase": "spec.base", "checks": "spec.checks", "jsonread": "spec.jsonread", "expr": "spec.expr",
    "catalog": "spec.catalog", "data": "build.data",
    **{m: f"build.{m}" for m in ("model", "shapes", "layercheck", "optim", "modes", "parts")},
    **{m: f"train.{m}" for m in ("loop", "steps", "rng", "resume", "callbacks", "interrupts", "rundirs", "metrics",
                                 "valstats", "history", "insight", "features", "lrfind", "background", "distributed")},
    "blocks": "spec.catalog.blocks", "graph": "sinks.graph", "runtable": "review.runtable", "tblaunch": "review.tblaunch",
}


def new_path(fullname: str) -> str | None:
    """``nbtrain.data.fast`` -> ``nbtrain.build.data.fast``; None for a name that did not move."""
    parts = fullname.split(".")
    if len(parts) < 2 or parts[0] != "nbtrain" or parts[1] not in MOVED:
        return None
    return ".".join(["nbtrain", *MOVED[parts[1]].split("."), *parts[2:]])


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        new = new_path(fullname)
        if new is None or importlib.util.find_spec(new) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        new = new_path(module.__name__)
        warnings.warn(f"{module.__name__} moved to {new}; import it from there (the old path will go)",
                      DeprecationWarning, stacklevel=2)
        # the import system reads sys.modules back after exec_module: the real module takes the old name
        sys.modules[module.__name__] = importlib.import_module(new)


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
