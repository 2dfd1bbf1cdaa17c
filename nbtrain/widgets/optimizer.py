"""OptimizerPicker: the optimizer's type, learning rate (with the LR finder beside it) and parameters, and param
groups by layer name. A new type brings its own default lr (torch's) unless the user typed one since the last change."""
from __future__ import annotations

import ipywidgets as W
import traitlets as T

from ..codegen import optimizer_code
from ..errors import NbtrainError, SpecError
from ..i18n import help_line, label, t, tooltip
from ..spec.catalog import OPTIMIZERS, default_lr
from ..spec.trainspec import OptimSpec, ParamGroupSpec
from .common import SpecValue, code_html, code_toggle
from .compat import tip
from .loading import loading
from .lrfind import HasFinder, LRFinder
from .params import LABEL, ParamsEditor, error_html


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

    def __init__(self, group: ParamGroupSpec, lang: str = "en"):
        doc = {fl: ParamGroupSpec.__dataclass_fields__[fl].metadata["help"] for fl in ("pattern", "lr", "weight_decay")}
        txt = lambda name, v, w: tip(W.Text(value=v, description=label(name, lang), continuous_update=False,
                                            style={"description_width": "auto"}, layout=W.Layout(width=w)),
                                     tooltip(name, doc[name], lang))
        fmt = lambda v: "" if v is None else f"{v:g}"
        self.pattern = txt("pattern", group.pattern, "220px")
        self.lr = txt("lr", fmt(group.lr), "200px")
        self.weight_decay = txt("weight_decay", fmt(group.weight_decay), "200px")
        self.delete = W.Button(icon="trash", tooltip=t("remove_group.tip", lang), layout=W.Layout(width="34px"))
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


class OptimizerPicker(HasFinder, SpecValue, W.VBox):
    """Edits an OptimSpec; ``value`` (also ``.spec``) is the last valid one, ``error`` what is wrong now."""
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, optim_spec: OptimSpec | None = None, lang: str = "en", lr_finder=None,
                 finder: LRFinder | None = None):
        """``lr_finder``: a function returning an LR-finder result (or ``finder``, an LRFinder shared with the
        scheduler picker); its suggestion is offered beside lr."""
        spec = (optim_spec or OptimSpec()).copy()
        self.lang, self._lr_edited = lang, False
        self.type = tip(W.Dropdown(options=sorted(OPTIMIZERS), value=spec.type, description=t("optimizer", lang),
                                   style=LABEL, layout=W.Layout(width="340px")), self._type_tip(spec.type))
        self.lr = tip(W.FloatText(value=spec.lr, description=t("lr", lang), style=LABEL, layout=W.Layout(width="340px")),
                      f"lr: {help_line(OptimSpec.__dataclass_fields__['lr'].metadata['help'], lang)}")
        self.message = W.HTML()
        self.finder = finder or LRFinder(lr_finder, lang)
        self.lr_line = self.finder.line("lr", lambda lr: setattr(self.lr, "value", lr))
        self.params = self._params_editor(spec.type, spec.params)
        self.params_box = W.VBox([self.params])
        self.group_rows = []
        self.groups_box = W.VBox()
        self.add_group = W.Button(description=t("add_group", lang), icon="plus", tooltip=t("add_group.tip", lang))
        self.add_group.on_click(lambda _: self._add_group(ParamGroupSpec(pattern="*")))
        self.code, self.show_code = code_toggle(lang)
        lr_row = W.HBox([self.lr, self.lr_line, self.message], layout=W.Layout(align_items="center"))
        super().__init__([self.type, lr_row, self.finder.image, self.params_box, W.HTML(t("groups", lang)),
                          self.groups_box, W.HBox([self.add_group, self.show_code]), self.code])
        self.lr.observe(self._on_lr, names="value")
        self._begin(spec)

    def set_spec(self, spec: OptimSpec) -> None:
        """Show ``spec`` in every input (``.spec = spec`` does the same)."""
        with loading(self):
            self.type.value = spec.type
            self.params = self._params_editor(spec.type, spec.params)
            self.params_box.children = (self.params,)
            self.lr.value = spec.lr
            self.group_rows = []
            for g in spec.groups:
                self._add_group(g, update=False)
        self._lr_edited = False
        self._update()

    def _type_tip(self, type_: str) -> str:
        return f"{type_}: {help_line(OPTIMIZERS[type_].help, self.lang)}"

    def _params_editor(self, type_: str, params: dict) -> ParamsEditor:
        ed = ParamsEditor(OPTIMIZERS[type_], params, lang=self.lang)
        ed.observe(self._update, names=["value", "error"])
        return ed

    def _on_lr(self, change) -> None:
        if not getattr(self, "_loading", False):
            self._lr_edited = True
        self._update()

    def _on_type(self, change) -> None:
        """The new type's parameters; its default lr (nbtrain.spec.catalog.default_lr: torch's) unless the user set
        lr since the last type change."""
        tip(self.type, self._type_tip(change["new"]))
        if getattr(self, "_loading", False):          # the spec setter sets the parameters and lr itself
            return
        self.params = self._params_editor(change["new"], {})
        self.params_box.children = (self.params,)
        if not self._lr_edited:
            with loading(self):
                self.lr.value = default_lr(change["new"])
        self._lr_edited = False
        self._update()

    def _add_group(self, group: ParamGroupSpec, update: bool = True) -> None:
        row = GroupRow(group, self.lang)
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
        self.code.value = code_html(optimizer_code(self.value))
