"""The single source of truth for what a spec can name: each family a Table of name -> Entry.

Builders, spec validation and widgets all read these tables.
"""
from .layers import INITS, LAYERS
from .losses import LOSSES, METRICS
from .optim import OPTIMIZERS, SCHEDULERS
from .params import REQUIRED, Entry, P, Param, Table, entry, signature_defaults, to_torch
from .transforms import TRANSFORMS

__all__ = ["LAYERS", "INITS", "OPTIMIZERS", "SCHEDULERS", "LOSSES", "METRICS", "TRANSFORMS",
           "Entry", "Param", "Table", "P", "entry", "REQUIRED", "signature_defaults", "to_torch"]
from . import inline  # noqa: F401 - sets entry.inline on every entry
