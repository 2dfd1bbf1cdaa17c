"""A generic editor for some plain fields of a spec dataclass (loop settings, data settings).

Each field's input is chosen from its type: a dropdown for choices and devices, a multi-select for metrics,
"off" for a patience where 0 turns it off, a checkbox for bools, number fields, and text for lists (numbers
separated by commas). Its label is a human one; its tooltip the field's name and help line. A change is
checked by rebuilding the spec with ``from_dict``: a bad value shows the SpecError beside its field and
``value`` keeps the last valid spec.
"""
from __future__ import annotations

import dataclasses
import json
import typing

import ipywidgets as W
import torch
import traitlets as T

from ..errors import NbtrainError, SpecError
from ..i18n import label, t, tooltip
from ..spec.catalog import METRICS
from .compat import tip
from .params import LABEL, error_html, format_value

OFF_CHOICES = (1, 2, 3, 5, 10, 15, 20, 30, 50)


def devices() -> list[str]:
    """The devices this machine has: auto, cpu, every cuda:N, mps."""
    out = ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def _options(value, choices) -> list:
    return list(choices) if value in [c[1] if isinstance(c, tuple) else c for c in choices] else [*choices, value]


def _input(fl, hint, value, choices, lang):
    return tip(_bare_input(fl, hint, value, choices, lang), tooltip(fl.name, fl.metadata.get("help", ""), lang))


def _bare_input(fl, hint, value, choices, lang):
    kw = dict(description=label(fl.name, lang), style=LABEL, layout=W.Layout(width="340px"))
    choices = choices or fl.metadata.get("choices")
    if fl.name == "device":
        choices = devices()
    if fl.name == "metrics":
        return W.SelectMultiple(options=sorted(METRICS), value=tuple(value), rows=len(METRICS), **kw)
    if fl.name == "early_stopping":
        opts = [(t("off", lang), 0), *((str(n), n) for n in OFF_CHOICES)]
        return W.Dropdown(options=_options(value, opts), value=value, **kw)
    if choices:
        return W.Dropdown(options=_options(value, choices), value=value, **kw)
    if hint is bool:
        return W.Checkbox(value=value, indent=False, **{**kw, "layout": W.Layout(width="auto")})
    if hint is int:
        return W.IntText(value=value, **kw)
    if hint is float:
        return W.FloatText(value=value, **kw)
    if hint is str:
        return W.Text(value=value, continuous_update=False, **kw)
    return W.Text(value=format_value(value), continuous_update=False, **kw)  # lists, unions: typed text


def parse_field(text: str, hint, name: str):
    """Text typed for a list or union field: JSON, or values separated by commas (``3, 32, 32``, ``a, b``)."""
    s = text.strip()
    for candidate in (s, f"[{s}]") if typing.get_origin(hint) is list else (s,):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    if typing.get_origin(hint) is typing.Union and str in typing.get_args(hint):
        return text  # a union with str: plain text is the str
    if typing.get_origin(hint) is list and "str" in repr(hint):
        return [int(x) if x.strip().lstrip("-").isdigit() else x.strip() for x in s.split(",") if x.strip()]
    raise SpecError(f"cannot read {text!r}", name, "type values separated by commas, e.g. 1, 28, 28")


class _Messages(dict):
    """name -> the HTML beside a field's input, made (and put beside it) on first use: most fields never
    show one, and a Workbench opens faster without them."""

    def __init__(self, rows: dict):
        super().__init__()
        self.rows = rows

    def __missing__(self, name: str) -> W.HTML:
        self[name] = msg = W.HTML()
        self.rows[name].children = (*self.rows[name].children, msg)
        return msg


class FieldsEditor(W.VBox):
    """Edits ``names`` of a spec dataclass; ``value`` is the whole (valid) spec.

    ``build(fields) -> spec`` makes the spec from the edited fields' values (default: the given spec
    with those fields replaced, through ``from_dict``); a parent that owns other parts of the spec
    passes its own and calls ``refresh()`` when those parts change.
    """
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, spec, names, where: str = "", choices: dict | None = None, build=None, lang: str = "en"):
        self.cls, self.where = type(spec), where
        self.build = build or (lambda d: self.cls.from_dict({**self.value.to_dict(), **d}, self.where))
        self.hints = typing.get_type_hints(self.cls)
        fls = {fl.name: fl for fl in dataclasses.fields(self.cls)}
        self.inputs = {}
        rows = []
        for n in names:
            inp = _input(fls[n], self.hints[n], getattr(spec, n), (choices or {}).get(n), lang)
            inp.observe(self._on_input, names="value")
            self.inputs[n] = inp
            rows.append(W.HBox([inp]))
        self.rows = dict(zip(names, rows))
        self.messages = _Messages(self.rows)
        super().__init__(rows)
        self.value = spec.copy()

    def _read(self, name):
        inp = self.inputs[name]
        if isinstance(inp, W.SelectMultiple):
            return list(inp.value)
        if isinstance(inp, W.Text) and self.hints[name] is not str:
            return parse_field(inp.value, self.hints[name], name)
        return inp.value

    def read(self) -> dict:
        """The values now in the inputs (SpecError naming the field when one cannot be read)."""
        return {n: self._read(n) for n in self.inputs}

    def _on_input(self, change) -> None:
        self.refresh(next(n for n, i in self.inputs.items() if i is change["owner"]))

    def refresh(self, changed: str | None = None) -> None:
        """Rebuild ``value`` from the inputs; a bad value's message goes beside its field."""
        for m in self.messages.values():
            m.value = ""
        try:
            new = self.build(self.read())
        except NbtrainError as e:
            field = e.where.rsplit(".", 1)[-1] if e.where else ""
            field = field.split("[")[0]
            target = field if field in self.rows else changed
            if target in self.rows:
                self.messages[target].value = error_html(str(e))
            self.error = str(e)
            return
        self.error = ""
        self.value = new

    def show_only(self, names) -> None:
        """Show the rows of ``names``, hide the others (their values stay in the spec)."""
        for n, row in self.rows.items():
            row.layout.display = "" if n in names else "none"

    def set_spec(self, spec) -> None:
        """Show ``spec``'s values; the rest of ``spec`` (fields not edited here) is kept as given."""
        self.value = spec.copy()
        for n, inp in self.inputs.items():
            v = getattr(spec, n)
            if isinstance(inp, W.SelectMultiple):
                v = tuple(v)
            elif isinstance(inp, W.Dropdown) and v not in [o[1] if isinstance(o, tuple) else o for o in inp.options]:
                inp.options = [*inp.options, v]
            elif isinstance(inp, W.Text) and not isinstance(v, str):
                v = format_value(v)
            inp.value = v
