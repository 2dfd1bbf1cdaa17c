"""OptimizerPicker: the optimizer's type, learning rate and parameters, and param groups by layer name."""
from __future__ import annotations

import html

import ipywidgets as W
import traitlets as T

from ..catalog import OPTIMIZERS
from ..errors import NbtrainError, SpecError
from ..spec import OptimSpec, ParamGroupSpec
from .loading import loading
from .params import LABEL, ParamsEditor, error_html


def code_html(code: str) -> str:
    return f'<pre style="font-size:12px;line-height:1.3">{html.escape(code)}</pre>'


def _opt_float(text: str, where: str):
    s = text.strip()
    if s in ("", "null", "None"):
        return None
    try:
        return float(s)
    except ValueError:
        raise SpecError(f"cannot read {text!r}", where, "type a number such as 1e-3, or leave it empty") from None


class GroupRow(W.HBox):
    """One param group: a layer-name pattern and its own lr / weight decay (empty: the optimizer's)."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, group: ParamGroupSpec):
        doc = {fl: ParamGroupSpec.__dataclass_fields__[fl].metadata["help"] for fl in ("pattern", "lr", "weight_decay")}
        txt = lambda name, v, w: W.Text(value=v, description=name, tooltip=doc[name], continuous_update=False,
                                         style={"description_width": "auto"}, layout=W.Layout(width=w))
        fmt = lambda v: "" if v is None else f"{v:g}"
        self.pattern = txt("pattern", group.pattern, "200px")
        self.lr = txt("lr", fmt(group.lr), "150px")
        self.weight_decay = txt("weight_decay", fmt(group.weight_decay), "190px")
        self.delete = W.Button(description="\u2715", tooltip="remove this group", layout=W.Layout(width="34px"))
        self.message = W.HTML()
        super().__init__([self.pattern, self.lr, self.weight_decay, self.delete, self.message])
        for w in (self.pattern, self.lr, self.weight_decay):
            w.observe(self._update, names="value")
        self.value = group.copy()

    def _update(self, change=None) -> None:
        try:
            self.value = ParamGroupSpec.from_dict({"pattern": self.pattern.value,
                                                   "lr": _opt_float(self.lr.value, "lr"),
                                                   "weight_decay": _opt_float(self.weight_decay.value, "weight_decay")})
            self.error = ""
        except NbtrainError as e:
            self.error = str(e)
        self.message.value = error_html(self.error)


class OptimizerPicker(W.VBox):
    """Edits an OptimSpec; ``value`` (also ``.spec``) is the last valid one, ``error`` what is wrong now."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, optim_spec: OptimSpec | None = None):
        spec = (optim_spec or OptimSpec()).copy()
        self.type = W.Dropdown(options=sorted(OPTIMIZERS), value=spec.type, description="optimizer", style=LABEL,
                               tooltip=OPTIMIZERS[spec.type].help)
        self.lr = W.FloatText(value=spec.lr, description="lr", style=LABEL,
                              tooltip=OptimSpec.__dataclass_fields__["lr"].metadata["help"])
        self.message = W.HTML()
        self.params = self._params_editor(spec.type, spec.params)
        self.params_box = W.VBox([self.params])
        self.group_rows = []
        self.groups_box = W.VBox()
        self.add_group = W.Button(description="Add group", icon="plus",
                                  tooltip="a param group: layers whose name matches a pattern, with their own lr")
        self.add_group.on_click(lambda _: self._add_group(ParamGroupSpec(pattern="*")))
        self.code = W.HTML()
        super().__init__([W.HBox([self.type, self.lr, self.message]), self.params_box,
                          W.HTML("<b>Param groups</b> (by layer name; the rest use the values above)"),
                          self.groups_box, self.add_group, W.HTML("<b>Code</b>"), self.code])
        self.type.observe(self._on_type, names="value")
        self.lr.observe(self._update, names="value")
        self.value = spec
        self.spec = spec

    @property
    def spec(self) -> OptimSpec:
        return self.value.copy()

    @spec.setter
    def spec(self, spec: OptimSpec) -> None:
        with loading(self):
            self.type.value = spec.type
            self.params = self._params_editor(spec.type, spec.params)
            self.params_box.children = (self.params,)
            self.lr.value = spec.lr
            self.group_rows = []
            for g in spec.groups:
                self._add_group(g, update=False)
        self._update()

    def _params_editor(self, type_: str, params: dict) -> ParamsEditor:
        ed = ParamsEditor(OPTIMIZERS[type_], params)
        ed.observe(self._update, names=["value", "error"])
        return ed

    def _on_type(self, change) -> None:
        self.type.tooltip = OPTIMIZERS[change["new"]].help
        self.params = self._params_editor(change["new"], {})
        self.params_box.children = (self.params,)
        self._update()

    def _add_group(self, group: ParamGroupSpec, update: bool = True) -> None:
        row = GroupRow(group)
        row.observe(self._update, names=["value", "error"])
        row.delete.on_click(lambda _, r=row: self._remove_group(r))
        self.group_rows.append(row)
        self.groups_box.children = tuple(self.group_rows)
        if update:
            self._update()

    def _remove_group(self, row) -> None:
        self.group_rows.remove(row)
        self.groups_box.children = tuple(self.group_rows)
        self._update()

    def _update(self, change=None) -> None:
        if getattr(self, "_loading", False):
            return
        err = self.params.error or next((f"groups[{i}]: {r.error}" for i, r in enumerate(self.group_rows) if r.error), "")
        new = None
        if not err:
            try:
                new = OptimSpec.from_dict({"type": self.type.value, "lr": self.lr.value,
                                           "groups": [r.value.to_dict() for r in self.group_rows], **self.params.value})
            except NbtrainError as e:
                err = str(e)
        self.message.value = error_html(err)
        self.error = err
        if new is not None:
            self.value = new  # last: the Workbench, reacting, may add its own message
        self._show_code()

    def _show_code(self) -> None:
        from ..codegen import optimizer_code
        self.code.value = code_html(optimizer_code(self.value))
