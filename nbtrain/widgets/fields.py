"""A generic editor for some plain fields of a spec dataclass (loop settings, data settings).

Each field's input is chosen from its type; the field's help line is the tooltip. A change is
checked by rebuilding the spec with ``from_dict``: a bad value shows the SpecError beside its field
and ``value`` keeps the last valid spec.
"""
from __future__ import annotations

import dataclasses
import json
import typing

import ipywidgets as W
import traitlets as T

from ..errors import NbtrainError, SpecError
from .params import LABEL, error_html


def _input(fl, hint, value, choices):
    kw = dict(description=fl.name, tooltip=fl.metadata.get("help", ""), style=LABEL,
              layout=W.Layout(width="340px"))
    choices = choices or fl.metadata.get("choices")
    if choices:
        opts = list(choices) if value in choices else [value, *choices]
        return W.Dropdown(options=opts, value=value, **kw)
    if hint is bool:
        return W.Checkbox(value=value, indent=False, **{**kw, "layout": W.Layout(width="auto")})
    if hint is int:
        return W.IntText(value=value, **kw)
    if hint is float:
        return W.FloatText(value=value, **kw)
    if hint is str:
        return W.Text(value=value, continuous_update=False, **kw)
    return W.Text(value=json.dumps(value), continuous_update=False, **kw)  # lists, unions: JSON text


class FieldsEditor(W.VBox):
    """Edits ``names`` of a spec dataclass; ``value`` is the whole (valid) spec.

    ``build(fields) -> spec`` makes the spec from the edited fields' values (default: the given spec
    with those fields replaced, through ``from_dict``); a parent that owns other parts of the spec
    passes its own and calls ``refresh()`` when those parts change.
    """
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, spec, names, where: str = "", choices: dict | None = None, build=None):
        self.cls, self.where = type(spec), where
        self.build = build or (lambda d: self.cls.from_dict({**self.value.to_dict(), **d}, self.where))
        hints = typing.get_type_hints(self.cls)
        fls = {fl.name: fl for fl in dataclasses.fields(self.cls)}
        self.inputs, self.messages = {}, {}
        rows = []
        for n in names:
            inp = _input(fls[n], hints[n], getattr(spec, n), (choices or {}).get(n))
            inp.observe(self._on_input, names="value")
            self.inputs[n], self.messages[n] = inp, W.HTML()
            rows.append(W.HBox([inp, self.messages[n]]))
        self.rows = dict(zip(names, rows))
        super().__init__(rows)
        self.value = spec.copy()

    def _read(self, name):
        inp = self.inputs[name]
        if isinstance(inp, W.Text) and typing.get_type_hints(self.cls)[name] is not str:
            try:
                return json.loads(inp.value)
            except json.JSONDecodeError:
                hint = typing.get_type_hints(self.cls)[name]
                if typing.get_origin(hint) is typing.Union and str in typing.get_args(hint):
                    return inp.value  # a union with str: plain text is the str
                raise SpecError(f"cannot read {inp.value!r}", name, "type a JSON value, e.g. [1, 28, 28]") from None
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
            target = field if field in self.messages else changed
            if target in self.messages:
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
            inp.value = v if not (isinstance(inp, W.Text) and not isinstance(v, str)) else json.dumps(v)
