"""LayerBuilder: the model's layers as one-line rows (type, optional name, inline parameters, output shape and
parameter count), a diagram beside them (one block per layer; clicking a block opens its row), the row at fault
outlined with a fix button where the fix is mechanical, presets, and the equivalent PyTorch code on demand."""
from __future__ import annotations

import math
import re

import ipywidgets as W
import traitlets as T

from ..build.model import model_code, summary
from ..errors import NbtrainError
from ..i18n import help_line, t
from ..spec.catalog import INITS, LAYERS
from ..spec.trainspec import LayerSpec, ModelSpec
from .common import SpecValue, code_html
from .compat import left_border, tip
from .front import diagram_html, make_diagram
from .loading import loading
from .params import ParamsEditor, error_html
from .presets import PRESETS
from .rows import ComponentRow, RowList, hide
from .rows import shared as rows_shared

_ROW_AT = re.compile(r"layers\[(\d+)\]")
_SET = re.compile(r"^set (\w+) to ([^ ]+)")


def _NAME():
    return rows_shared()["name"]


def init_options(lang: str) -> list:
    return [(t("default_init", lang), "")] + [(n, n) for n in sorted(INITS)]


class LayerRow(ComponentRow):
    """A layer: type, name (OrderedDict key; empty: numbered) and inline parameters on its line; its other
    parameters and its own init when opened."""

    def extra_inputs(self, spec) -> list:
        if not hasattr(self, "name"):
            help_ = LayerSpec.__dataclass_fields__["name"].metadata["help"]
            self.name = tip(W.Text(value=spec.name, placeholder=t("name", self.lang), continuous_update=False,
                                   layout=_NAME()), f"name: {help_line(help_, self.lang)}")
            self._init, self._init_value = None, spec.init
        return [self.name]

    @property
    def init(self) -> W.Dropdown:
        """The layer's own init (made when the row is first opened)."""
        if self._init is None:
            help_ = LayerSpec.__dataclass_fields__["init"].metadata["help"]
            self._init = tip(W.Dropdown(options=init_options(self.lang), value=self._init_value, description="init",
                                        layout=W.Layout(width="260px"), style={"description_width": "auto"}),
                             f"init: {help_line(help_, self.lang)}")
            self._init.observe(self._update, names="value")
        return self._init

    def _set_type(self, type_: str, params: dict) -> None:
        super()._set_type(type_, params)
        self.more.layout.visibility = "visible"       # the init is always there to open

    def more_children(self) -> tuple:
        """The init and the parameters; a block (Residual) also its body's layers as rows of their own."""
        if "block" not in self.table[self.type.value].tags:
            return (W.VBox([self.init, self._editor]),)
        return (W.VBox([self.init, self._editor, self.body_rows, self.body_rows.footer]),)

    @property
    def body_rows(self) -> "RowList":
        """A Residual's body as layer rows (made when the row is first opened); each edit writes the body back
        into the row's ``body`` parameter (its JSON field hidden: the rows stand for it)."""
        if getattr(self, "_body", None) is None or self._body_type is not self._editor:
            specs = [LayerSpec.from_dict(d, f"body[{j}]") for j, d in enumerate(self._editor.value.get("body", []))]
            self._body = RowList(specs, self.table, lambda type_: LayerSpec(type_), "Conv2d", row_cls=LayerRow,
                                 where="body", add_label=t("add_layer", self.lang), lang=self.lang)
            self._body_type = self._editor
            left_border(self._body.layout, "3px solid var(--jp-border-color2, #bbb)")
            self._body.observe(self._on_body, names=["value", "error"])
            hide(self.params.fields["body"])
        return self._body

    def _on_body(self, change=None) -> None:
        if not self._body.error:
            self.params.fields["body"].set([spec.to_dict() for spec in self._body.value])

    def extra_fields(self) -> dict:
        return {"name": self.name.value, "init": self._init.value if self._init is not None else self._init_value}


class LayerBuilder(SpecValue, W.VBox):
    """Edits a ModelSpec. ``value`` (also ``.spec``) is the last spec that is valid and fits
    ``input_shape``; ``error`` says what is wrong now, and the row at fault is outlined."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, model_spec: ModelSpec | None = None, input_shape=None, num_classes: int = 10,
                 lang: str = "en"):
        self._loading, self.lang = True, lang
        spec = (model_spec or ModelSpec()).copy()
        self._input_shape = tuple(input_shape) if input_shape else (1, 28, 28)
        self.output_shape = None  # of the last valid model, from its summary
        self.num_classes = num_classes
        self.rows = RowList(spec.layers, LAYERS, self._new_layer, "Linear", row_cls=LayerRow, where="layers",
                            add_label=t("add_layer", lang), lang=lang)
        self.rows.duplicate_spec = self._duplicate
        self.rows.observe(self._update, names=["value", "error"])
        self.init = tip(W.Dropdown(options=init_options(lang), value=spec.init, description=t("model_init", lang),
                                   style={"description_width": "auto"}, layout=W.Layout(width="260px")),
                        f"init: {help_line(ModelSpec.__dataclass_fields__['init'].metadata['help'], lang)}")
        self.init.observe(self._on_init, names="value")
        self.init_params = self._init_editor(spec.init, spec.init_params)
        self.init_box = W.HBox([self.init, self.init_params])
        self.preset = W.Dropdown(options=list(PRESETS), description=t("preset", lang), layout=W.Layout(width="280px"),
                                 style={"description_width": "auto"})
        self.load_preset = W.Button(description=t("load_preset", lang), tooltip=t("load_preset.tip", lang))
        self.load_preset.on_click(lambda _: self.apply_preset(self.preset.value))
        self.message, self.totals, self.code = W.HTML(), W.HTML(), W.HTML(layout=W.Layout(display="none"))
        self.show_code = W.ToggleButton(description=t("code", lang), icon="code", tooltip=t("code.tip", lang),
                                        layout=W.Layout(width="auto"))
        self.show_code.observe(lambda c: (hide(self.code, not c["new"]), self._show_code()), names="value")
        self.diagram = make_diagram()
        if hasattr(self.diagram, "selected"):
            self.diagram.observe(lambda c: self.select(c["new"]), names="selected")
        super().__init__([
            W.HBox([self.preset, self.load_preset, self.init_box]),
            W.HBox([self.rows, self.diagram], layout=W.Layout(width="100%", align_items="flex-start")),
            self.message,
            W.HBox([*self.rows.footer.children, self.totals, self.show_code], layout=W.Layout(align_items="center")),
            self.code])
        self.rows.layout.flex = "1 1 auto"
        self.add_class("nbtrain-model")
        self.value = spec
        self._loading = False
        self._update()

    # -- the spec ------------------------------------------------------------------------------
    def set_spec(self, spec: ModelSpec) -> None:
        """Show ``spec`` in every row (``.spec = spec`` does the same)."""
        with loading(self):
            self.init.value = spec.init
            self._set_init_editor(spec.init, spec.init_params)
            self.rows.set_value(spec.layers)
        self._update()

    @property
    def input_shape(self) -> tuple:
        return self._input_shape

    @input_shape.setter
    def input_shape(self, shape) -> None:
        self._input_shape = tuple(shape)
        self._update()

    def apply_preset(self, name: str) -> None:
        self.spec = PRESETS[name](self.num_classes)

    def select(self, i: int) -> None:
        """Open row ``i``'s parameters and mark it (what a click on its block in the diagram does)."""
        for j, r in enumerate(self.rows.rows):
            (r.add_class if j == i else r.remove_class)("nbtrain-selected")
        if 0 <= i < len(self.rows.rows):
            self.rows.rows[i].expand()

    # -- rows -------------------------------------------------------------------------------------
    def _named(self) -> bool:
        return any(r.name.value for r in self.rows.rows)

    def _unique(self, base: str) -> str:
        names = {r.name.value for r in self.rows.rows}
        i = 1
        while f"{base}{i}" in names:
            i += 1
        return f"{base}{i}"

    def _new_layer(self, type_: str = "Linear") -> LayerSpec:
        name = self._unique(type_.lower()) if self._named() else ""
        return LayerSpec(type_, name=name)

    def _duplicate(self, spec: LayerSpec) -> LayerSpec:
        new = spec.copy()
        if new.name:
            new.name = self._unique(re.sub(r"\d+$", "", new.name) or "layer")
        return new

    # -- the model init -----------------------------------------------------------------------------
    def _init_editor(self, init: str, params: dict) -> ParamsEditor:
        ed = ParamsEditor(INITS[init] if init else None, params, lang=self.lang)
        ed.observe(self._update, names=["value", "error"])
        return ed

    def _set_init_editor(self, init: str, params: dict) -> None:
        self.init_params = self._init_editor(init, params)
        self.init_box.children = (self.init, self.init_params)

    def _on_init(self, change) -> None:
        if not self._loading:
            self._set_init_editor(change["new"], {})
            self._update()

    # -- validation, summary, fixes, code -------------------------------------------------------------
    def _candidate(self) -> ModelSpec:
        return ModelSpec.from_dict({"layers": [s.to_dict() for s in self.rows.value], "init": self.init.value,
                                    "init_params": self.init_params.value})

    def _update(self, change=None) -> None:
        if self._loading:
            return
        for r in self.rows.rows:
            r.show_message(r.error)
            r.info.value = ""
        err, marked = self.rows.error or self.init_params.error, bool(self.rows.error)
        self._shapes = []
        if not err:
            try:
                spec = self._candidate()
                self._show_summary(spec)
                self.value = spec
            except NbtrainError as e:
                err = str(e)
                marked = self._mark(e)
        self.error = err
        self.message.value = "" if marked else error_html(err)   # a row's error shows on its row only
        self._draw(err)
        self._show_code()

    def _mark(self, e: NbtrainError) -> bool:
        m = _ROW_AT.search(e.where or str(e))
        if not (m and int(m.group(1)) < len(self.rows.rows)):
            return False
        i = int(m.group(1))
        try:  # the shapes of the rows before the one at fault
            self._show_summary(ModelSpec(layers=[r.value for r in self.rows.rows[:i]]), totals=False)
        except NbtrainError:
            pass
        self.rows.rows[i].show_message(str(e), *self._fix_for(e, i))
        return True

    def _fix_for(self, e: NbtrainError, i: int) -> tuple:
        """(label, action) of a mechanical fix for error ``e`` at row ``i``; ("", None) when there is none."""
        row = self.rows.rows[i]
        m = _SET.match(e.fix or "")
        if m and row.table[row.type.value].param(m.group(1)) is not None:
            name, value = m.group(1), int(m.group(2)) if m.group(2).isdigit() else m.group(2)
            return t("set_to", self.lang, field=name, value=value), lambda: row.params.fields[name].set(value)
        if "needs input of shape (C, H, W)" in e.what or "needs input of shape (C, L)" in e.what:
            return t("use_mlp", self.lang), lambda: self.apply_preset("MLP")
        return "", None

    def check_classes(self, classes: int, dataset: str = "the data") -> str:
        """The model's output against ``classes``: the error (marked on the row at fault, with its fix), or ''."""
        out = self.output_shape
        if self.error or out is None or tuple(out) == (classes,):
            return ""
        msg = f"the model gives outputs of shape {tuple(out)} but {dataset} has {classes} classes"
        rows = self.rows.rows
        flat = next((j for j, s in enumerate(self._shapes) if rows[j].type.value == "Linear" and
                     len(self._shapes[j - 1] if j else self._input_shape) > 1), None)
        if flat is not None:
            fix = (t("add_flatten", self.lang), lambda: self.rows.insert(flat, LayerSpec("Flatten")))
            rows[flat].show_message(f"{msg}: Linear acts on the last dimension only (add Flatten before it)", *fix)
        elif rows and rows[-1].type.value == "Linear":
            fix = (t("set_to", self.lang, field="out_features", value=classes),
                   lambda: rows[-1].params.fields["out_features"].set(classes))
            rows[-1].show_message(f"{msg} (make the last layer Linear with out_features={classes})", *fix)
        else:
            self.message.value = error_html(f"{msg} (end the model with Linear(out_features={classes}))")
        self._draw("", fault=flat if flat is not None else len(rows) - 1)
        return f"{msg} (make the last layer Linear with out_features={classes})"

    def _show_summary(self, spec: ModelSpec, totals: bool = True) -> None:
        s = summary(spec, self._input_shape)
        self._shapes = [tuple(row["output_shape"]) for row in s.rows]
        for r, row in zip(self.rows.rows, s.rows):
            shape, n = "\u00d7".join(map(str, row["output_shape"])), f"{row['params']:,}"
            r.info.value = (f'<span style="color:var(--jp-ui-font-color2);font-size:12px;white-space:nowrap">'
                            f'\u2192 {shape} \u00b7 {t("params_n", self.lang, n=n)}</span>')
        if totals:
            self.output_shape = tuple(s.output_shape)
            self.totals.value = t("totals", self.lang, inp=tuple(self._input_shape), out=tuple(s.output_shape),
                                  total=f"{s.total_params:,}", trainable=f"{s.trainable_params:,}")

    def _draw(self, err: str, fault: int | None = None) -> None:
        """The diagram: a block per row, the one at fault (outlined row) in red."""
        if fault is None:
            fault = next((i for i, r in enumerate(self.rows.rows) if r.layout.border), -1)
        blocks = []
        for i, r in enumerate(self.rows.rows):
            shape = self._shapes[i] if i < len(self._shapes) else None
            blocks.append({"index": i, "type": r.type.value, "error": i == fault, "rank": len(shape or ()),
                           "shape": "\u00d7".join(map(str, shape)) if shape else "?",
                           "size": math.prod(shape) if shape else 0})
        self.diagram_blocks = blocks
        html = diagram_html(blocks)
        if hasattr(self.diagram, "selected"):
            self.diagram.html = html
        else:
            self.diagram.value = html

    def _show_code(self) -> None:
        if not self.show_code.value:
            return
        try:
            self.code.value = code_html(model_code(self.value, self._input_shape))
        except NbtrainError as e:
            self.code.value = error_html(str(e))
