"""Parameter descriptions shared by every catalog table: kind, default, range, one-line help.

A ``Param`` checks a JSON value (``check``) and says what the widgets should show. Values stay in
their JSON form (lists, not tuples); builders convert with ``to_torch``.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import SpecError, unknown_name
from ..expr import parse as parse_expr
from ..errors import type_name as _tname

REQUIRED = object()  # marker: the parameter has no default

KINDS = ("int", "float", "bool", "str", "choice", "auto_int", "int_or_ints", "ints", "floats",
         "float_or_floats", "expr", "opt_int", "opt_float", "padding")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool))


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any = REQUIRED
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False      # low itself is not allowed (e.g. lr > 0)
    choices: tuple = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, v: Any, where: str) -> Any:
        """Return ``v`` (ints accepted for floats, converted) or raise SpecError naming ``where``."""
        k = self.kind
        if k == "int" or (k in ("opt_int",) and v is not None):
            if not _is_int(v):
                raise SpecError(f"expected int, got {_tname(v)}", where)
            self._range(v, where)
        elif k == "auto_int":
            if v != "auto" and not _is_int(v):
                raise SpecError(f"expected int or 'auto', got {_tname(v)}", where)
            if v != "auto":
                self._range(v, where)
        elif k == "float" or (k == "opt_float" and v is not None):
            if not _is_num(v):
                raise SpecError(f"expected float, got {_tname(v)}", where)
            v = float(v)
            if not math.isfinite(v):
                raise SpecError(f"expected a finite number, got {v}", where)
            self._range(v, where)
        elif k == "bool":
            if not isinstance(v, bool):
                raise SpecError(f"expected bool, got {_tname(v)}", where)
        elif k == "str" or (k == "expr" and isinstance(v, str)):
            if not isinstance(v, str):
                raise SpecError(f"expected str, got {_tname(v)}", where)
            if k == "expr" and v:
                parse_expr(v, where)
        elif k == "expr":   # one expression per param group
            if not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
                raise SpecError(f"expected str or list of str, got {_tname(v)}", where)
            for i, x in enumerate(v):
                parse_expr(x, f"{where}[{i}]")
        elif k == "choice":
            if v not in self.choices:
                raise unknown_name("value", str(v), [str(c) for c in self.choices], where)
        elif k in ("int_or_ints", "padding"):
            if k == "padding" and v in ("same", "valid"):
                return v
            if _is_int(v):
                self._range(v, where)
            elif isinstance(v, list) and v and all(_is_int(x) for x in v):
                for x in v:
                    self._range(x, where)
            else:
                extra = ", 'same' or 'valid'" if k == "padding" else ""
                raise SpecError(f"expected int or list of ints{extra}, got {_tname(v)}", where)
        elif k == "ints":
            if not (isinstance(v, list) and all(_is_int(x) for x in v)):
                raise SpecError(f"expected list of ints, got {_tname(v)}", where)
            for x in v:
                self._range(x, where)
        elif k in ("floats", "float_or_floats"):
            if k == "float_or_floats" and _is_num(v):
                v = float(v)
                self._range(v, where)
                return v
            if not (isinstance(v, list) and all(_is_num(x) for x in v)):
                raise SpecError(f"expected list of numbers, got {_tname(v)}", where)
            v = [float(x) for x in v]
            for x in v:
                self._range(x, where)
        return v

    def _range(self, v: float, where: str) -> None:
        lo, hi = self.low, self.high
        if lo is not None and (v < lo or (self.low_open and v == lo)):
            op = ">" if self.low_open else ">="
            raise SpecError(f"must be {op} {lo:g}, got {v:g}", where,
                            f"set {self.name} to a value {op} {lo:g}")
        if hi is not None and v > hi:
            raise SpecError(f"must be <= {hi:g}, got {v:g}", where, f"set {self.name} to a value <= {hi:g}")

    def describe(self) -> str:
        rng = ""
        if self.choices:
            rng = " one of " + ", ".join(map(str, self.choices))
        elif self.low is not None or self.high is not None:
            lo = "(" if self.low_open else "["
            rng = f" in {lo}{'' if self.low is None else f'{self.low:g}'}, {'' if self.high is None else f'{self.high:g}'}]"
        return f"{self.name} ({self.kind}{rng}): {self.help}"


def to_torch(v: Any) -> Any:
    """JSON form to the form torch constructors take (lists become tuples)."""
    return tuple(v) if isinstance(v, list) else v


def jsonable_default(v: Any) -> Any:
    if isinstance(v, tuple):
        return [jsonable_default(x) for x in v]
    return v


@dataclass(frozen=True)
class Entry:
    """One catalog item: a name, what builds it, its editable parameters and a line of help."""
    name: str
    build: Callable
    params: tuple[Param, ...]
    help: str = ""
    tags: frozenset = field(default_factory=frozenset)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params if not p.required}

    def check_params(self, params: dict, where: str, ignore: tuple = ()) -> dict:
        """Validate a params dict: unknown keys, types, ranges, missing required ones."""
        names = [p.name for p in self.params]
        out = {}
        for k, v in params.items():
            p = self.param(k)
            if p is None:
                if k in ignore:
                    continue
                raise SpecError(f"unknown parameter {k!r} for {self.name}", f"{where}.{k}" if where else k,
                                "known parameters: " + (", ".join(names) or "none"))
            out[k] = p.check(v, f"{where}.{k}" if where else k)
        for p in self.params:
            if p.required and p.name not in params:
                raise SpecError(f"{self.name} needs {p.name!r}", where, f"add {p.name}: {p.help}")
        return out

    def kwargs(self, params: dict) -> dict:
        """Defaults merged with params, in torch form."""
        kw = self.defaults()
        kw.update(params)
        return {k: to_torch(v) for k, v in kw.items()}


class Table(dict):
    """name -> Entry, with a lookup that lists close matches for an unknown name."""

    def __init__(self, kind: str, entries):
        super().__init__((e.name, e) for e in entries)
        self.kind = kind

    def get_entry(self, name: str, where: str = "") -> Entry:
        try:
            return self[name]
        except KeyError:
            raise unknown_name(self.kind, name, self.keys(), where) from None


def signature_defaults(fn: Callable) -> dict:
    """The keyword defaults of a torch class or function, read from its own signature."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    out = {}
    for name, p in inspect.signature(target).parameters.items():
        if p.default is not inspect.Parameter.empty:
            out[name] = p.default
    return out


def P(kind: str, help: str = "", default: Any = REQUIRED, **kw) -> dict:
    """A parameter template; ``entry`` fills the name and, unless given, the default from torch."""
    return dict(kind=kind, help=help, default=default, **kw)


def entry(name: str, build: Callable, help: str, params: dict | None = None, *, sig: Callable | None = None,
          tags=()) -> Entry:
    """Make an Entry whose defaults come from ``sig`` (default: ``build``)'s signature.

    A template may give its own default only where torch has none (``in_features='auto'``)."""
    sig_defaults = signature_defaults(sig or build) if (sig or inspect.isclass(build) or callable(build)) else {}
    out = []
    for pname, t in (params or {}).items():
        t = dict(t)
        if pname in sig_defaults and t["default"] is REQUIRED:
            t["default"] = jsonable_default(sig_defaults[pname])
        if "choices" in t:
            t["choices"] = tuple(t["choices"])
        out.append(Param(name=pname, **t))
    return Entry(name, build, tuple(out), help, frozenset(tags))
