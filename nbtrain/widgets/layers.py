"""LayerBuilder: the model's layers as rows (type, optional name, parameters, init), with a live summary
per row, the row at fault highlighted when shapes don't fit, presets, and the equivalent PyTorch code."""
from __future__ import annotations

import re

import ipywidgets as W
import traitlets as T

from ..catalog import INITS, LAYERS
from ..errors import NbtrainError
from ..spec import LayerSpec, ModelSpec
from .loading import loading
from .optimizer import code_html
from .params import LABEL, ParamsEditor, error_html
from .presets import PRESETS
from .rows import ComponentRow, RowList

_INIT_OPTIONS = [("default init", "")] + [(n, n) for n in sorted(INITS)]
_ROW_AT = re.compile(r"layers\[(\d+)\]")


class LayerRow(ComponentRow):
    """A layer: type, name (OrderedDict key; empty: numbered), parameters and its own init."""

    def extra_inputs(self, spec) -> list:
        if not hasattr(self, "name"):
            self.name = W.Text(value=spec.name, placeholder="name", continuous_update=False,
                               tooltip=LayerSpec.__dataclass_fields__["name"].metadata["help"],
                               layout=W.Layout(width="110px"))
            self.init = W.Dropdown(options=_INIT_OPTIONS, value=spec.init, layout=W.Layout(width="150px"),
                                   tooltip=LayerSpec.__dataclass_fields__["init"].metadata["help"])
        return [self.name, self.init]

    def extra_fields(self) -> dict:
        return {"name": self.name.value, "init": self.init.value}


class LayerBuilder(W.VBox):
    """Edits a ModelSpec. ``value`` (also ``.spec``) is the last spec that is valid and fits
    ``input_shape``; ``error`` says what is wrong now, and the row at fault is outlined."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, model_spec: ModelSpec | None = None, input_shape=None, num_classes: int = 10):
        self._loading = True
        spec = (model_spec or ModelSpec()).copy()
        self._input_shape = tuple(input_shape) if input_shape else (1, 28, 28)
        self.output_shape = None  # of the last valid model, from its summary
        self.num_classes = num_classes
        self.rows = RowList(spec.layers, LAYERS, self._new_layer, "Linear", row_cls=LayerRow, where="layers",
                            add_label="Add layer")
        self.rows.duplicate_spec = self._duplicate
        self.rows.observe(self._update, names=["value", "error"])
        self.init = W.Dropdown(options=_INIT_OPTIONS, value=spec.init, description="model init", style=LABEL,
                               tooltip=ModelSpec.__dataclass_fields__["init"].metadata["help"])
        self.init.observe(self._on_init, names="value")
        self.init_params = self._init_editor(spec.init, spec.init_params)
        self.init_box = W.HBox([self.init, self.init_params])
        self.preset = W.Dropdown(options=list(PRESETS), description="preset", style=LABEL)
        self.load_preset = W.Button(description="Load preset", tooltip="replace the layers with the preset")
        self.load_preset.on_click(lambda _: self.apply_preset(self.preset.value))
        self.message = W.HTML()
        self.totals = W.HTML()
        self.code = W.HTML()
        super().__init__([W.HBox([self.preset, self.load_preset]), self.init_box, self.rows, self.message,
                          self.totals, W.HTML("<b>Code</b>"), self.code])
        self.value = spec
        self._loading = False
        self._update()

    # -- the spec ------------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        return self.value.copy()

    @spec.setter
    def spec(self, spec: ModelSpec) -> None:
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
        ed = ParamsEditor(INITS[init] if init else None, params)
        ed.observe(self._update, names=["value", "error"])
        return ed

    def _set_init_editor(self, init: str, params: dict) -> None:
        self.init_params = self._init_editor(init, params)
        self.init_box.children = (self.init, self.init_params)

    def _on_init(self, change) -> None:
        if not self._loading:
            self._set_init_editor(change["new"], {})
            self._update()

    # -- validation, summary, code -------------------------------------------------------------------
    def _candidate(self) -> ModelSpec:
        return ModelSpec.from_dict({"layers": [s.to_dict() for s in self.rows.value], "init": self.init.value,
                                    "init_params": self.init_params.value})

    def _update(self, change=None) -> None:
        if self._loading:
            return
        for r in self.rows.rows:
            r.show_message(r.error)
            r.info.value = ""
        err = self.rows.error or self.init_params.error
        if not err:
            try:
                spec = self._candidate()
                self._show_summary(spec)
                self.value = spec
            except NbtrainError as e:
                err = str(e)
                self._mark(e)
        self.error = err
        self.message.value = error_html(err)
        self._show_code()

    def _mark(self, e: NbtrainError) -> None:
        m = _ROW_AT.search(e.where or str(e))
        if m and int(m.group(1)) < len(self.rows.rows):
            i = int(m.group(1))
            self.rows.rows[i].show_message(str(e))
            try:  # the shapes of the rows before the one at fault
                self._show_summary(ModelSpec(layers=[r.value for r in self.rows.rows[:i]]), totals=False)
            except NbtrainError:
                pass

    def _show_summary(self, spec: ModelSpec, totals: bool = True) -> None:
        from ..model import summary
        s = summary(spec, self._input_shape)
        for r, row in zip(self.rows.rows, s.rows):
            shape = " \u00d7 ".join(map(str, row["output_shape"]))
            r.info.value = f'<span style="color:#555">\u2192 ({shape}) \u00b7 {row["params"]:,} params</span>'
        if totals:
            self.output_shape = tuple(s.output_shape)
            self.totals.value = (f"input {tuple(self._input_shape)} \u2192 output {tuple(s.output_shape)}; "
                                 f"<b>{s.total_params:,}</b> parameters ({s.trainable_params:,} trainable)")

    def _show_code(self) -> None:
        from ..model import model_code
        try:
            self.code.value = code_html(model_code(self.value, self._input_shape))
        except NbtrainError as e:
            self.code.value = error_html(str(e))
