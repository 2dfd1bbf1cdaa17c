"""Row-list mechanics shared by the layer builder and the transform pipelines.

A ``ComponentRow`` edits one catalog component (a LayerSpec, a TransformSpec): its type and its
parameters, plus extra fields the subclass adds. A ``RowList`` holds rows in order and lets the user
add, insert, delete, move up and down and duplicate them; ``value`` is the list of component specs.
"""
from __future__ import annotations

import ipywidgets as W
import traitlets as T

from ..errors import NbtrainError
from .params import ParamsEditor, error_html, with_starters

_BTN = W.Layout(width="34px", padding="0px")
ACTIONS = (("insert", "+", "insert a new row above this one"), ("up", "\u2191", "move up"),
           ("down", "\u2193", "move down"), ("duplicate", "\u29c9", "duplicate this row"),
           ("delete", "\u2715", "delete this row"))


class ComponentRow(W.VBox):
    """One component: a type dropdown, its parameters, buttons, and a line for info or the error."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, spec, table):
        self.spec_cls, self.table = type(spec), table
        self.index = W.HTML(layout=W.Layout(width="34px"))
        self.type = W.Dropdown(options=sorted(table), value=spec.type, tooltip=table[spec.type].help,
                               layout=W.Layout(width="170px"))
        self.buttons = {a: W.Button(description=s, tooltip=t, layout=_BTN) for a, s, t in ACTIONS}
        self.info = W.HTML()
        self.message = W.HTML()
        self._set_type(spec.type, spec.params)
        self.header = W.HBox([self.index, self.type, *self.extra_inputs(spec), *self.buttons.values(), self.info])
        super().__init__([self.header, self.message, self.params_box])
        self.type.observe(self._on_type, names="value")
        for w in self.extra_inputs(spec):
            w.observe(self._update, names="value")
        self.value = spec.copy()
        self._update()

    # subclasses add their own inputs (a layer's name and init) and fields
    def extra_inputs(self, spec) -> list:
        return []

    def extra_fields(self) -> dict:
        return {}

    def _set_type(self, type_: str, params: dict) -> None:
        """The parameters' editor is made when first opened (or read): a long model opens fast."""
        entry = self.table[type_]
        self._editor, self._params = None, with_starters(entry, params)
        if entry.params:
            self.params_box = W.Accordion([W.VBox()], titles=("parameters",))
            self.params_box.selected_index = None
            self.params_box.observe(lambda c: c["new"] is not None and self.params, names="selected_index")
        else:
            self.params_box = W.VBox()

    @property
    def params(self) -> ParamsEditor:
        """The ParamsEditor of this row's parameters (made on first use)."""
        if self._editor is None:
            self._editor = ParamsEditor(self.table[self.type.value], self._params)
            self._editor.observe(self._update, names=["value", "error"])
            self.params_box.children = (self._editor,)
        return self._editor

    def _on_type(self, change) -> None:
        self.type.tooltip = self.table[change["new"]].help
        self._set_type(change["new"], {})
        self.children = (self.header, self.message, self.params_box)
        self._update()

    def _update(self, change=None) -> None:
        ed = self._editor
        err, new = (ed.error if ed else ""), None
        if not err:
            try:
                params = ed.value if ed else self._params
                new = self.spec_cls.from_dict({"type": self.type.value, **self.extra_fields(), **params})
            except NbtrainError as e:
                err = str(e)
        self.show_message(err)
        self.error = err
        if new is not None:
            self.value = new  # last: a parent reacting to it may mark this row

    def show_message(self, msg: str) -> None:
        self.message.value = error_html(msg)
        self.layout.border = "2px solid #c62828" if msg else ""


class RowList(W.VBox):
    """Rows in order, with add / insert / delete / move / duplicate; ``value`` is the list of specs."""
    value = T.List()
    error = T.Unicode("")

    def __init__(self, specs, table, new_spec, default_type: str, row_cls=ComponentRow, where: str = "",
                 add_label="Add"):
        self.table, self.new_spec, self.row_cls, self.where = table, new_spec, row_cls, where
        self.add_type = W.Dropdown(options=sorted(table), value=default_type, layout=W.Layout(width="170px"),
                                   tooltip="the type of the row the + buttons add")
        self.add_button = W.Button(description=add_label, icon="plus", tooltip="add a row at the end")
        self.add_button.on_click(lambda _: self.insert(len(self.rows), self.new_spec(self.add_type.value)))
        self.footer = W.HBox([self.add_type, self.add_button])
        self.rows = []
        super().__init__()
        self.set_value(specs)

    def _make_row(self, spec):
        row = self.row_cls(spec, self.table)
        row.observe(self._sync, names=["value", "error"])
        for action, btn in row.buttons.items():
            btn.on_click(lambda _, a=action, r=row: self.act(a, r))
        return row

    def act(self, action: str, row) -> None:
        i = self.rows.index(row)
        if action == "insert":
            self.insert(i, self.new_spec(self.add_type.value))
        elif action == "delete":
            self.rows.pop(i)
        elif action == "duplicate":
            self.rows.insert(i + 1, self._make_row(self.duplicate_spec(row.value)))
        elif action in ("up", "down"):
            j = i - 1 if action == "up" else i + 1
            if 0 <= j < len(self.rows):
                self.rows[i], self.rows[j] = self.rows[j], self.rows[i]
        self._relayout()

    def duplicate_spec(self, spec):
        return spec.copy()

    def insert(self, i: int, spec) -> None:
        self.rows.insert(i, self._make_row(spec))
        self._relayout()

    def set_value(self, specs) -> None:
        self.rows = [self._make_row(s) for s in specs]
        self._relayout()

    def _relayout(self) -> None:
        for i, r in enumerate(self.rows):
            r.index.value = f"<b>{i}</b>"
            r.buttons["up"].disabled = i == 0
            r.buttons["down"].disabled = i == len(self.rows) - 1
        self.children = (*self.rows, self.footer)
        self._sync()

    def _sync(self, change=None) -> None:
        self.value = [r.value for r in self.rows]
        self.error = next((f"{self.where}[{i}]: {r.error}" for i, r in enumerate(self.rows) if r.error), "")
