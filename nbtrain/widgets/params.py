"""A generic editor for the parameters of one catalog Entry.

Each ``Param`` becomes one field: a bounded slider where the catalog gives both ends of a range, a
number field otherwise, a dropdown for choices, a checkbox for bools and a text field for lists
(numbers separated by commas), 'auto' and optional values. The field's name and the catalog's help
line are the tooltip. A bad value shows its message beside the field and the editor keeps the last
valid value. The entry's inline parameters (``entry.inline``) are made at once, compact, for a row's
one line; the others when first shown or read (``fields``), so a long model opens fast.
"""
from __future__ import annotations

import html
import json

import ipywidgets as W
import traitlets as T

from ..errors import NbtrainError, SpecError
from ..i18n import tooltip
from ..spec.catalog import Entry, Param
from .compat import tip

# values that fill a required parameter when a row is added, so a new row is valid at once
STARTERS = {"out_channels": 8, "out_features": 10, "kernel_size": 3, "output_size": 1, "step_size": 10,
            "milestones": [10, 20], "T_0": 10, "max_lr": 0.01, "base_lr": 1e-4, "mean": [0.5], "std": [0.5],
            "size": 28, "total_iters": 5, "gamma": 0.1, "factor": 0.5, "start_factor": 0.1}

LABEL = {"description_width": "150px"}
ERROR_STYLE = "color:var(--jp-error-color1, #c62828)"
# a compact (inline) field: its torch name as the label, then an input just wide enough for its usual values
INPUT_PX = {"choice": 76, "int": 40, "int_or_ints": 48, "float": 58, "ints": 64, "floats": 76}


def starter(p: Param):
    if p.name in STARTERS:
        return STARTERS[p.name]
    if not p.required:
        return p.default
    return {"int": 1, "float": 0.0, "bool": False, "str": "", "expr": "", "ints": [], "floats": []}.get(
        p.kind, p.choices[0] if p.choices else 1)


def with_starters(entry: Entry | None, params: dict | None) -> dict:
    """``params`` with a starter value for each required parameter it lacks."""
    out = dict(params or {})
    for p in (entry.params if entry is not None else ()):
        if p.required and p.name not in out:
            out[p.name] = starter(p)
    return out


def error_html(msg: str) -> str:
    return f'<span style="{ERROR_STYLE}">{html.escape(msg)}</span>' if msg else ""


def parse_text(text: str, p: Param, where: str):
    """What the user typed into a text field, as the JSON value ``p`` expects (not yet range-checked)."""
    s = text.strip()
    if p.kind in ("str", "expr"):
        return text
    if s in ("", "null", "None") and (p.kind in ("opt_int", "opt_float") or p.default is None):
        return None
    if (p.kind == "auto_int" and s == "auto") or (p.kind == "padding" and s in ("same", "valid")):
        return s
    for candidate in (s, f"[{s}]"):
        try:
            v = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if p.kind in ("ints", "floats") and not isinstance(v, list):
            v = [v]
        return v
    raise SpecError(f"cannot read {text!r}", where, "type a number, or numbers separated by commas")


def format_value(v) -> str:
    """A value as typed: lists as numbers separated by commas (no brackets), None as empty."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return ", ".join(json.dumps(x) for x in v)
    return json.dumps(v)


def compact_width(p: Param) -> str:
    """A row's inline field: the label (about 7 px a character of its name) and a short input."""
    return "auto" if p.kind == "bool" else f"{round(len(p.name) * 7.2) + 10 + INPUT_PX.get(p.kind, 58)}px"


def make_input(p: Param, value, lang: str = "en", compact: bool = False):
    """The ipywidget for one parameter, holding ``value``; ``compact``: a short one for a row's line."""
    return tip(_bare_input(p, value, compact), tooltip(p.name, p.help, lang))


def _bare_input(p: Param, value, compact: bool):
    width = compact_width(p) if compact else "340px"
    style = {"description_width": "auto" if compact else LABEL["description_width"]}
    kw = dict(description=p.name, style=style, layout=W.Layout(width=width))
    bounded = p.low is not None and p.high is not None
    if p.kind == "bool":
        return W.Checkbox(value=bool(value), indent=False, **{**kw, "layout": W.Layout(width="auto")})
    if p.kind == "choice":
        return W.Dropdown(options=[(str(c), c) for c in p.choices], value=value, **kw)
    if p.kind == "int" and isinstance(value, int):
        if bounded and not compact:
            return W.IntSlider(value=value, min=int(p.low), max=int(p.high), **kw)
        return W.IntText(value=value, **kw)
    if p.kind == "float" and isinstance(value, (int, float)):
        if bounded and not compact:
            return W.FloatSlider(value=value, min=p.low, max=p.high, step=(p.high - p.low) / 100,
                                 readout_format=".3g", **kw)
        return W.FloatText(value=value, **kw)
    return W.Text(value=format_value(value), continuous_update=False, **kw)


class ParamField(W.HBox):
    """One parameter: its input, and the message for a bad value beside it (a compact field leaves the message
    to its row, so an error shows once)."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, param: Param, value, where: str = "", lang: str = "en", compact: bool = False):
        self.param, self.where = param, f"{where}.{param.name}" if where else param.name
        self.input = make_input(param, value, lang, compact)
        self.message = W.HTML() if not compact else None
        super().__init__([self.input, self.message] if not compact else [self.input],
                         layout=W.Layout(width="auto", flex="0 0 auto"))
        self.value = value
        self.input.observe(self._on_input, names="value")

    def _on_input(self, change) -> None:
        try:
            v = change["new"]
            if isinstance(self.input, W.Text):
                v = parse_text(v, self.param, self.where)
            v = self.param.check(v, self.where)
        except NbtrainError as e:
            self.error = str(e)
        else:
            self.error = ""
            self.value = v
        if self.message is not None:
            self.message.value = error_html(self.error)
        self.input.layout.border = "1px solid var(--jp-error-color1, #c62828)" if self.error else ""

    def set(self, value) -> None:
        """Show ``value`` (a valid JSON value) in the input."""
        self.input.value = value if not isinstance(self.input, W.Text) else format_value(value)

    def beside(self, widget) -> None:
        """Put ``widget`` right after the input (the LR finder's line beside max_lr), before the message."""
        self.children = tuple(c for c in (self.input, widget, self.message) if c is not None)


class ParamsEditor(W.VBox):
    """Edits the params dict of one catalog Entry.

    ``value`` is the dict of explicitly given parameters (those the spec had, plus those the user
    touched or a required one a new row needed), so a spec goes through the editor unchanged.
    ``inline`` names the parameters made at once as compact fields (``inline_fields``) for a row's line; the
    editor's own box shows the others, made at once or (``lazy``) on first use of ``fields``.
    """
    value = T.Dict()
    error = T.Unicode("")

    def __init__(self, entry: Entry | None, params: dict | None = None, where: str = "", lang: str = "en",
                 inline: tuple = (), lazy: bool = False):
        self.entry, self.where, self.lang = entry, where, lang
        self._given = set(params or {})
        self._explicit = with_starters(entry, params)
        self._plist = entry.params if entry is not None else ()
        self._fields: dict[str, ParamField] = {}
        self.inline = tuple(n for n in inline if entry is not None and entry.param(n) is not None)
        super().__init__(layout=W.Layout(flex_flow="row wrap"))
        self.inline_fields = [self._make(entry.param(n), compact=True) for n in self.inline]
        if not lazy:
            self.fields  # noqa: B018 - an editor on its own shows every field at once
        self.value = dict(self._explicit)

    def _make(self, p: Param, compact: bool = False) -> ParamField:
        fl = ParamField(p, self._explicit.get(p.name, p.default), self.where, self.lang, compact)
        fl.observe(self._on_field, names=["value", "error"])
        self._fields[p.name] = fl
        return fl

    @property
    def fields(self) -> dict:
        """name -> ParamField for every parameter (the non-inline ones made and shown on first use)."""
        if len(self._fields) < len(self._plist):
            for p in self._plist:
                if p.name not in self._fields:
                    self._make(p)
            self.children = [self._fields[p.name] for p in self._plist if p.name not in self.inline]
        return {p.name: self._fields[p.name] for p in self._plist}

    @property
    def has_more(self) -> bool:
        """Whether some parameters are not inline (the row offers to open them)."""
        return len(self._plist) > len(self.inline)

    def _on_field(self, change) -> None:
        fl = change["owner"]
        if change["name"] == "value":
            p = fl.param
            if p.name not in self._given and not p.required and change["new"] == p.default:
                self._explicit.pop(p.name, None)  # back to the default: leave the spec as it was
            else:
                self._explicit[p.name] = change["new"]
            self.value = dict(self._explicit)
        self.error = next((f.error for f in self._fields.values() if f.error), "")
