"""Row-list mechanics shared by the layer builder and the transform pipelines.

A ``ComponentRow`` edits one catalog component (a LayerSpec, a TransformSpec) on one line: its type, the
entry's inline parameters (``entry.inline``), extra fields the subclass adds, an info cell (shape, parameter
count), a toggle that opens every other parameter below the line, and icon buttons (Font Awesome, which every
Jupyter front end ships). A ``RowList`` holds rows in order and lets the user add, insert, delete, move up and
down and duplicate them; ``value`` is the list of component specs.
"""
from __future__ import annotations

import functools

import ipywidgets as W
import traitlets as T
from ipywidgets.widgets.widget_description import DescriptionStyle

from ..errors import NbtrainError
from ..i18n import help_line, t
from .compat import html_style, tip, toggle_button_style
from .params import ParamsEditor, error_html

ACTIONS = (("insert", "plus"), ("up", "arrow-up"), ("down", "arrow-down"), ("duplicate", "copy"),
           ("delete", "trash"))
ERROR_BORDER = "2px solid var(--jp-error-color1, #c62828)"
LINE = {"flex_flow": "row nowrap", "align_items": "center", "width": "100%"}
ICON_CSS = {"width": "30px", "min_width": "30px", "padding": "0px", "margin": "1px"}


def hide(widget, hidden: bool = True) -> None:
    widget.layout.display = "none" if hidden else ""


@functools.cache
def shared() -> dict:
    """Layouts and styles no row changes, made once and shared by every row (each is a widget of its own: a
    long model opens faster with fewer of them)."""
    return {"icon": W.Layout(width="30px", min_width="30px", padding="0px", margin="1px"),
            "button": W.ButtonStyle(), "index": W.Layout(width="26px", min_width="26px"),
            "type": W.Layout(width="100px", min_width="100px"), "description": DescriptionStyle(),
            "html": html_style(),
            "info": W.Layout(width="180px", min_width="180px", overflow="hidden"),
            "inline": W.Layout(flex="1 1 auto", flex_flow="row nowrap", min_width="276px"),
            "line": W.Layout(**LINE), "name": W.Layout(width="48px", min_width="48px")}


class ComponentRow(W.VBox):
    """One component on one line: index, type, inline parameters, info, buttons; below it the row's message
    (and a fix button) when something is wrong, and the other parameters when opened."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, spec, table, lang: str = "en"):
        self.spec_cls, self.table, self.lang = type(spec), table, lang
        sh = shared()
        self.index = W.HTML(layout=sh["index"], style=sh["html"])
        self.type = tip(W.Dropdown(options=sorted(table), value=spec.type, layout=sh["type"], style=sh["description"]),
                        self._type_tip(spec.type))
        self.buttons = {a: W.Button(icon=icon, tooltip=t(f"{a}.tip", lang), layout=sh["icon"], style=sh["button"])
                        for a, icon in ACTIONS}
        self.more = W.ToggleButton(icon="sliders", tooltip=t("more.tip", lang), layout=W.Layout(**ICON_CSS),
                                   style=toggle_button_style())
        self.info = W.HTML(layout=sh["info"], style=sh["html"])
        self.info.add_class("nbtrain-info")             # the Workbench's style swaps it for the buttons on hover
        for b in self.buttons.values():
            b.add_class("nbtrain-act")
        self.inline_box = W.HBox(layout=sh["inline"])
        self._line, self._box, self.fix_action = None, None, None   # the message line and the opened box: made
        extras = self.extra_inputs(spec)                              # when first needed
        self._set_type(spec.type, spec.params)
        self.header = W.HBox([self.index, self.type, *extras, self.inline_box, self.info, self.more,
                              *self.buttons.values()], layout=sh["line"])
        self.header.add_class("nbtrain-row-line")
        super().__init__([self.header], layout=W.Layout(width="100%"))
        self.add_class("nbtrain-row")
        self.type.observe(self._on_type, names="value")
        self.more.observe(lambda c: self.expand(c["new"]), names="value")
        for w in extras:
            w.observe(self._update, names="value")
        self.value = spec.copy()
        self._update()

    # subclasses add their own inputs (a layer's name and init) and fields
    def extra_inputs(self, spec) -> list:
        return []

    def extra_fields(self) -> dict:
        return {}

    def _type_tip(self, type_: str) -> str:
        return f"{type_}: {help_line(self.table[type_].help, self.lang)}"

    def _set_type(self, type_: str, params: dict) -> None:
        """A new editor: its inline fields on the line at once, the others made when the row is opened."""
        entry = self.table[type_]
        self._editor = ParamsEditor(entry, params, lang=self.lang, inline=getattr(entry, "inline", ()),
                                    lazy=True)
        self._editor.observe(self._update, names=["value", "error"])
        self.inline_box.children = tuple(self._editor.inline_fields)
        self.more.layout.visibility = "visible" if self._editor.has_more else "hidden"
        self.more.value = False
        if self._box is not None:
            self._box.children = self.more_children()
            hide(self._box)

    def more_children(self) -> tuple:
        """What opening the row shows (a subclass adds its own)."""
        return (self._editor,)

    @property
    def params_box(self) -> W.Box:
        """The box of the parameters not on the line (made when the row is first opened)."""
        if self._box is None:
            self._box = W.Box(self.more_children(), layout=W.Layout(display="none", padding="0 0 0 28px"))
            self.children = (*self.children, self._box)
        return self._box

    def _message_line(self) -> W.HBox:
        if self._line is None:
            self.message = W.HTML(layout=W.Layout(flex="1 1 auto"))
            self.fix = W.Button(icon="magic", layout=W.Layout(width="auto", min_width="max-content", flex="0 0 auto"),
                                button_style="warning")
            self.fix.on_click(lambda _: self.fix_action and self.fix_action())
            self._line = W.HBox([self.message, self.fix], layout=W.Layout(display="none", padding="0 0 0 28px"))
            self._line.add_class("nbtrain-msg")
            self.children = (self.children[0], self._line, *self.children[1:])
        return self._line

    @property
    def params(self) -> ParamsEditor:
        """The ParamsEditor of this row's parameters (every field made on first use)."""
        self._editor.fields  # noqa: B018 - make the fields not yet made
        return self._editor

    def expand(self, on: bool = True) -> None:
        """Show (or hide) the parameters that are not on the line."""
        if on:
            self.params  # noqa: B018
        self.more.value = on
        if on or self._box is not None:
            hide(self.params_box, not on)

    def _on_type(self, change) -> None:
        tip(self.type, self._type_tip(change["new"]))
        self._set_type(change["new"], {})
        self._update()

    def _update(self, change=None) -> None:
        ed = self._editor
        err, new = ed.error, None
        if not err:
            try:
                new = self.spec_cls.from_dict({"type": self.type.value, **self.extra_fields(), **ed.value})
            except NbtrainError as e:
                err = str(e)
        self.show_message(err)
        self.error = err
        if new is not None:
            self.value = new  # last: a parent reacting to it may mark this row

    def show_message(self, msg: str, fix: str = "", action=None) -> None:
        """The row's message below its line (the one place its error shows), with a fix button when given."""
        self.layout.border = ERROR_BORDER if msg else ""
        if not msg and self._line is None:
            return
        line = self._message_line()
        self.message.value = error_html(msg)
        self.fix.description, self.fix_action = fix, action
        hide(self.fix, not fix)
        hide(line, not msg)


class RowList(W.VBox):
    """Rows in order, with add / insert / delete / move / duplicate; ``value`` is the list of specs."""
    value = T.List()
    error = T.Unicode("")

    def __init__(self, specs, table, new_spec, default_type: str, row_cls=ComponentRow, where: str = "",
                 add_label="Add", lang: str = "en"):
        self.table, self.new_spec, self.row_cls, self.where, self.lang = table, new_spec, row_cls, where, lang
        self.add_type = tip(W.Dropdown(options=sorted(table), value=default_type, layout=W.Layout(width="150px")),
                            t("add_type.tip", lang))
        self.add_button = W.Button(description=add_label, icon="plus", tooltip=t("add.tip", lang),
                                   layout=W.Layout(width="auto"))
        self.add_button.on_click(lambda _: self.insert(len(self.rows), self.new_spec(self.add_type.value)))
        self.footer = W.HBox([self.add_type, self.add_button])
        self.rows = []
        super().__init__(layout=W.Layout(width="100%"))
        self.set_value(specs)

    def _make_row(self, spec):
        row = self.row_cls(spec, self.table, self.lang)
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
        self.children = tuple(self.rows)
        self._sync()

    def _sync(self, change=None) -> None:
        self.value = [r.value for r in self.rows]
        self.error = next((f"{self.where}[{i}]: {r.error}" for i, r in enumerate(self.rows) if r.error), "")
