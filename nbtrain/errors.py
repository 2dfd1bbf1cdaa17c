"""Errors a user can act on: what is wrong, where (the field, the layer, the row), how to fix it."""
from __future__ import annotations

import difflib
from typing import Iterable


class NbtrainError(ValueError):
    """One clear message for bad input.

    ``where`` names the place (a spec field path such as ``model.layers[3].out_features``,
    a layer, a CSV row); ``fix`` says what to do about it. ``str(err)`` is the full message.
    """

    def __init__(self, what: str, where: str = "", fix: str = ""):
        self.what, self.where, self.fix = what, where, fix
        msg = f"{where}: {what}" if where else what
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class SpecError(NbtrainError):
    """A spec field has a wrong type, an unknown key or a value out of range."""


class ShapeError(NbtrainError):
    """A layer does not fit the shape that flows into it."""


class DataError(NbtrainError):
    """A dataset, a file or a loader setting is wrong."""


class CheckpointError(NbtrainError):
    """A checkpoint is missing, corrupt, or belongs to another model."""


def type_name(v) -> str:
    """How a bad value is named in a message: strings quoted, None as JSON's null, else the type."""
    return repr(v) if isinstance(v, str) else "null" if v is None else type(v).__name__


def fmt_shape(shape) -> str:
    """A shape as a tuple literal: (8, 28, 28), (784,)."""
    shape = tuple(shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def close_matches(name: str, choices: Iterable[str]) -> str:
    """'did you mean ...' text for an unknown name, or the list of choices when nothing is close."""
    choices = sorted(choices)
    lower = {c.lower(): c for c in choices}
    near = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.5)
    if near:
        return "did you mean " + " or ".join(repr(lower[n]) for n in near) + "?"
    return "choose one of: " + ", ".join(choices)


def unknown_name(kind: str, name: str, choices: Iterable[str], where: str = "") -> NbtrainError:
    return SpecError(f"unknown {kind} {name!r}", where, close_matches(name, choices))
