"""Parameter descriptions shared by every catalog table: kind, default, range, one-line help.

A ``Param`` checks a JSON value (``check``) and says what the widgets should show. Values stay in
their JSON form (lists, not tuples); builders convert with ``to_torch``.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ...errors import SpecError, unknown_name
from ...errors import type_name as _tname
from ..checks import check_finite, check_int, is_int, is_num
from ..expr import parse as parse_expr

REQUIRED = object()  # marker: the parameter has no default

KINDS = ("int", "float", "bool", "str", "choice", "auto_int", "int_or_ints", "ints", "floats",
         "float_or_floats", "expr", "opt_int", "opt_float", "padding", "layers")


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
    length: tuple = ()          # allowed lengths of the list form (empty: any); ``entry`` fills it, see there

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, v: Any, where: str) -> Any:
        """Return ``v`` (ints accepted for floats, converted) or raise SpecError naming ``where``.

        Every number is checked for its kind, finiteness (nbtrain.spec.checks), range, and every list for its length."""
        k = self.kind
        if v is None and k in ("opt_int", "opt_float"):
            return v
        if k in ("int", "opt_int", "auto_int"):
            if k == "auto_int" and v == "auto":
                return v
            return self._int(v, where, "int or 'auto'" if k == "auto_int" else "int")
        if k in ("float", "opt_float"):
            return self._float(v, where, "float")
        if k == "bool":
            if not isinstance(v, bool):
                raise SpecError(f"expected bool, got {_tname(v)}", where)
            return v
        if k == "str" or (k == "expr" and isinstance(v, str)):
            if not isinstance(v, str):
                raise SpecError(f"expected str, got {_tname(v)}", where)
            if k == "expr" and v:
                parse_expr(v, where)
            return v
        if k == "expr":   # one expression per param group
            if not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
                raise SpecError(f"expected str or list of str, got {_tname(v)}", where)
            for i, x in enumerate(v):
                parse_expr(x, f"{where}[{i}]")
            return v
        if k == "choice":
            if not any(v == c and type(v) is type(c) for c in self.choices):
                raise unknown_name("value", str(v), [str(c) for c in self.choices], where)
            return v
        if k == "padding" and v in ("same", "valid"):
            return v
        if k == "layers":
            return self._layers(v, where)
        return self._number_or_list(v, where)

    def _layers(self, v: Any, where: str) -> list:
        """A list of layers in their JSON form (LayerSpec objects are written so); each layer's own type and
        parameters are checked where it is built (nbtrain.build.model), as the model's layers are."""
        if not isinstance(v, list):
            raise SpecError(f"expected a list of layers, got {_tname(v)}", where,
                            "e.g. [{'type': 'Linear', 'out_features': 8}, {'type': 'ReLU'}]")
        out = []
        for i, x in enumerate(v):
            x = x.to_dict() if hasattr(x, "to_dict") else x
            if not (isinstance(x, dict) and isinstance(x.get("type"), str)):
                raise SpecError(f"expected a layer (an object with a 'type'), got {_tname(x)}", f"{where}[{i}]",
                                "e.g. {'type': 'ReLU'}")
            out.append(x)
        return out

    def _number_or_list(self, v: Any, where: str) -> Any:
        """The kinds that take a number, a list of numbers, or either."""
        k = self.kind
        ints = k in ("int_or_ints", "padding", "ints")
        if k in ("int_or_ints", "padding", "float_or_floats") and not isinstance(v, list):
            want = {"int_or_ints": "int or list of ints", "padding": "int or list of ints, 'same' or 'valid'",
                    "float_or_floats": "number or list of numbers"}[k]
            return self._int(v, where, want) if ints else self._float(v, where, want)
        want = "list of ints" if ints else "list of numbers"
        if not isinstance(v, list):
            raise SpecError(f"expected {want}, got {_tname(v)}", where)
        if self.length and len(v) not in self.length:
            n = " or ".join(map(str, self.length))
            raise SpecError(f"expected a list of {n} {'ints' if ints else 'numbers'}, got {len(v)}: {v}", where,
                            self.help)
        if not v and k != "ints":
            raise SpecError(f"expected a non-empty {want}, got []", where, self.help)
        return [self._int(x, f"{where}[{i}]", "int") if ints else self._float(x, f"{where}[{i}]", "number")
                for i, x in enumerate(v)]

    def _int(self, v: Any, where: str, want: str) -> int:
        if not is_int(v):
            raise SpecError(f"expected {want}, got {_tname(v)}", where)
        check_int(v, where)
        self._range(v, where)
        return v

    def _float(self, v: Any, where: str, want: str) -> float:
        if not is_num(v):
            raise SpecError(f"expected {want}, got {_tname(v)}", where)
        v = check_finite(v, where)
        self._range(v, where)
        return v

    def _range(self, v: float, where: str) -> None:
        lo, hi = self.low, self.high
        if lo is not None and (v < lo or (self.low_open and v == lo)):
            op = ">" if self.low_open else ">="
            raise SpecError(f"must be {op} {lo:g}, got {v:g}", where,
                            f"set {self.name} to a value {op} {lo:g}")
        if hi is not None and v > hi:
            raise SpecError(f"must be <= {hi:g}, got {v:g}", where, f"set {self.name} to a value <= {hi:g}")


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
    lr: float | None = None     # optimizers: the learning rate a new choice of this type starts from

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
        t["length"] = _length(name, t)
        out.append(Param(name=pname, **t))
    return Entry(name, build, tuple(out), help, frozenset(tags))


def _length(entry_name: str, t: dict) -> tuple:
    """The allowed lengths of a parameter's list form, unless the template gives them: a list default's own
    length (Adam's betas [0.9, 0.999]: 2, so [0.9] is refused); for sizes, the spatial dimensions in the torch
    class name (Conv1d: 1, MaxPool2d: 2) or [s] / [h, w] for an image transform; a float_or_floats range: [lo, hi]."""
    if "length" in t:
        n = t["length"]
        return tuple(n) if isinstance(n, (tuple, list)) else (n,)
    if isinstance(t["default"], list):
        return (len(t["default"]),)
    if t["kind"] in ("int_or_ints", "padding"):
        dims = re.search(r"([123])d$", entry_name)
        return (int(dims.group(1)),) if dims else (1, 2)
    if t["kind"] == "float_or_floats":
        return (2,)
    return ()
