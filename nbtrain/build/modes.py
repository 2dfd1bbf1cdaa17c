"""Train/eval modes: put every module's mode back as it was.

``model.train(was)`` would unfreeze a layer frozen alone (a BatchNorm in eval mode inside a training model, as in
fine-tuning); these helpers record and restore each module's own flag instead.
"""
from __future__ import annotations

import contextlib


def module_modes(model) -> list:
    """Every module's train/eval mode, for ``restore_modes``."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(modes: list) -> None:
    for m, training in modes:
        m.training = training


@contextlib.contextmanager
def eval_mode(model):
    """model.eval() inside; afterwards every module's mode is put back as it was (see ``module_modes``)."""
    modes = module_modes(model)
    model.eval()
    try:
        yield model
    finally:
        restore_modes(modes)
