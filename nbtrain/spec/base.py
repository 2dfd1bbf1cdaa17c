"""The machinery under every spec dataclass: typed fields with one help line, JSON round-trip, the
type checks that name the field path of a bad value, and ``Component`` (a spec item naming a catalog entry)."""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar, Union

from ..errors import SpecError
from ..errors import type_name as _tname
from . import catalog
from .checks import check_finite, check_int
from .jsonread import read_json, read_text


def f(default: Any, help: str, **meta) -> Any:
    """A dataclass field with a one-line help (and optional ``choices``)."""
    meta["help"] = help
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


def _check(tp: Any, v: Any, where: str) -> Any:
    """Check ``v`` against the annotation ``tp`` and convert nested dicts to dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(a, v, where)
            except SpecError as e:
                errors.append(e)
        names = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)
        raise SpecError(f"expected {names}, got {_tname(v)}", where)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(v, list):
            raise SpecError(f"expected list, got {_tname(v)}", where)
        return [_check(item, x, f"{where}[{i}]") for i, x in enumerate(v)]
    if origin is dict or tp is dict:
        if not isinstance(v, dict):
            raise SpecError(f"expected object, got {_tname(v)}", where)
        return copy.deepcopy(v)
    if dataclasses.is_dataclass(tp):
        return tp.from_dict(v, where)
    if tp is Any:
        return copy.deepcopy(v)
    if tp is bool:
        if not isinstance(v, bool):
            raise SpecError(f"expected bool, got {_tname(v)}", where)
        return v
    if tp is int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise SpecError(f"expected int, got {_tname(v)}", where)
        return check_int(v, where)
    if tp is float:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise SpecError(f"expected float, got {_tname(v)}", where)
        return check_finite(v, where)
    if tp is str:
        if not isinstance(v, str):
            raise SpecError(f"expected str, got {_tname(v)}", where)
        return v
    raise TypeError(f"spec type {tp!r} at {where} is not supported")  # a bug in the spec, not user input


@functools.cache
def _fields_of(cls) -> tuple[dict, dict]:
    """A spec class's type hints and fields, worked out once per class: get_type_hints evaluates every annotation
    string each call (a spec of 200k layers spent a minute there, once per layer)."""
    return typing.get_type_hints(cls), {fl.name: fl for fl in dataclasses.fields(cls)}


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class SpecBase:
    """to_dict / from_dict / to_json / from_json / copy for every spec dataclass."""

    def to_dict(self) -> dict:
        out = {}
        for fl in dataclasses.fields(self):
            out[fl.name] = _to_plain(getattr(self, fl.name))
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = ""):
        if not isinstance(d, dict):
            raise SpecError(f"expected object, got {_tname(d)}", where or cls.__name__)
        obj = cls._from_fields(d, where)
        obj.validate(where)
        return obj

    @classmethod
    def _from_fields(cls, d: dict, where: str):
        """An instance from the dataclass fields in ``d``, each type-checked; ``validate`` not yet run."""
        hints, fields = _fields_of(cls)
        for k in d:
            if k not in fields:
                raise SpecError(f"unknown key {k!r}", _join(where, k), "known keys: " + ", ".join(fields))
        kw = {}
        for name, fl in fields.items():
            if name in d:
                kw[name] = _check(hints[name], d[name], _join(where, name))
                choices = fl.metadata.get("choices")
                if choices and kw[name] not in choices:
                    raise SpecError(f"expected one of {', '.join(map(repr, choices))}, got {_tname(kw[name])}",
                                    _join(where, name))
        return cls(**kw)

    def validate(self, where: str = "") -> None:
        """Extra checks a subclass needs beyond field types."""

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(read_json(text, cls.__name__))

    def save(self, path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path):
        return cls.from_json(read_text(path))

    def copy(self):
        return copy.deepcopy(self)


def _to_plain(v: Any) -> Any:
    if isinstance(v, SpecBase):
        return v.to_dict()
    if isinstance(v, list):
        return [_to_plain(x) for x in v]
    if isinstance(v, tuple):
        return [_to_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_plain(x) for k, x in v.items()}
    return v


class Component(SpecBase):
    """A spec item naming a catalog entry; its entry's parameters live in ``params`` and are written flat."""
    TABLE: ClassVar[str] = ""        # attribute name of the catalog table
    KEY: ClassVar[str] = "type"      # the field that names the entry

    def to_dict(self) -> dict:
        out = {}
        for fl in dataclasses.fields(self):
            if fl.name != "params":
                out[fl.name] = _to_plain(getattr(self, fl.name))
        out.update(_to_plain(self.params))
        return out

    @classmethod
    def entry_for(cls, name: str, where: str):
        return getattr(catalog, cls.TABLE).get_entry(name, _join(where, cls.KEY))

    @classmethod
    def from_dict(cls, d: Any, where: str = ""):
        if not isinstance(d, dict):
            raise SpecError(f"expected object, got {_tname(d)}", where or cls.__name__)
        own = {fl.name for fl in dataclasses.fields(cls)} - {"params"}
        if cls.KEY not in d:
            raise SpecError(f"missing {cls.KEY!r}", where, f"name a {cls.TABLE.lower().rstrip('s')} with {cls.KEY!r}")
        if not isinstance(d[cls.KEY], str):
            raise SpecError(f"expected str, got {_tname(d[cls.KEY])}", _join(where, cls.KEY))
        entry = cls.entry_for(d[cls.KEY], where)
        params = {k: v for k, v in d.items() if k not in own}
        base = {k: v for k, v in d.items() if k in own}
        obj = cls._from_fields(base, where)
        obj.params = entry.check_params(params, where)
        obj.validate(where)
        return obj

    def entry(self):
        return self.entry_for(getattr(self, self.KEY), "")

    def kwargs(self, where: str = "") -> dict:
        """The entry's defaults merged with params, in the form torch constructors take.

        The params are checked here too, so a spec made in Python (not through from_dict) gets the
        same clear errors: unknown or missing parameters, wrong types, values out of range."""
        entry = self.entry_for(getattr(self, self.KEY), where)
        return entry.kwargs(entry.check_params(self.params, where))
