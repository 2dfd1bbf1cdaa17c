"""Python literals for spec values: the only way a value of a spec reaches generated code.

A spec is shared like a document, so every string in it is hostile until quoted: ``py`` emits ``repr`` of
plain JSON types only (after a JSON round trip no str subclass with its own ``__repr__`` survives), refuses
non-finite floats, and ``name`` lets a catalog name into code only when the catalog has it.
"""
from __future__ import annotations

import math

from ..errors import NbtrainError


def py(v, where: str = "to_code") -> str:
    """Python source for a JSON value in the form torch takes (lists become tuples)."""
    if isinstance(v, (list, tuple)):
        inner = ", ".join(py(x, where) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{py(k, where)}: {py(x, where)}" for k, x in v.items()) + "}"
    if isinstance(v, float) and not math.isfinite(v):
        raise NbtrainError(f"{v} cannot be exported", where, "give a finite number")
    if v is None or type(v) in (bool, int, float, str):
        return repr(v)
    raise NbtrainError(f"a {type(v).__name__} value cannot be exported", where, "use JSON values only")


def kwargs_code(params: dict, where: str = "to_code") -> str:
    for k in params:
        if not (isinstance(k, str) and k.isidentifier()):
            raise NbtrainError(f"{k!r} is not a parameter name", where, "use the catalog's parameter names")
    return ", ".join(f"{k}={py(v, f'{where}.{k}')}" for k, v in params.items())


def name(table, key: str, where: str) -> str:
    """``key`` as code: a name of the catalog ``table`` (SpecError with close matches otherwise)."""
    return table.get_entry(key, where).name
