"""SchedulerPicker: the LR scheduler's type and parameters, warm-up, per-step or per-epoch, SWA, and a
live LR curve (``lr_curve``) over the chosen epochs and steps per epoch, redrawn on every change."""
from __future__ import annotations

import ipywidgets as W
import traitlets as T

from ..catalog import SCHEDULERS
from ..errors import NbtrainError
from ..i18n import t
from ..spec import OptimSpec, SchedSpec
from ..viz import to_png as figure_png
from .fields import FieldsEditor
from .loading import loading
from .params import LABEL, ParamsEditor, error_html

FIELDS = ("interval", "warmup", "warmup_start_factor", "monitor", "swa", "swa_start", "swa_lr", "swa_anneal_epochs")


class SchedulerPicker(W.VBox):
    """Edits a SchedSpec; ``value`` (also ``.spec``) is the last valid one.

    ``optim_spec`` (the base LR and param groups), ``epochs`` and ``steps_per_epoch`` only shape the
    preview. ``lr_finder``, when set (the Workbench sets it), is a function returning an LR-finder
    result; its suggestion can then fill the scheduler's ``max_lr`` (or, through ``set_lr``, the optimizer's lr).
    ``draw`` False: the curve is checked but not drawn until ``show()`` (the Workbench draws it when its tab is
    first opened).
    """
    value = T.Any()
    error = T.Unicode("")
    suggested_lr = T.Float(None, allow_none=True)

    def __init__(self, sched_spec: SchedSpec | None = None, optim_spec: OptimSpec | None = None,
                 epochs: int = 10, steps_per_epoch: int = 20, lr_finder=None, lang: str = "en", draw: bool = True,
                 set_lr=None):
        from .plots import LRCurveFigure
        self._loading, self.lang, self.draw, self.set_lr = True, lang, draw, set_lr
        spec = (sched_spec or SchedSpec()).copy()
        self._optim = (optim_spec or OptimSpec()).copy()
        self.lr_finder = lr_finder
        self.type = W.Dropdown(options=[(t("constant", lang), "")] + [(n, n) for n in sorted(SCHEDULERS)],
                               value=spec.type, description=t("scheduler", lang), style=LABEL,
                               layout=W.Layout(width="340px"))
        self.message = W.HTML()
        self.params = self._params_editor(spec.type, spec.params)
        self.params_box = W.VBox([self.params])
        self.fields = FieldsEditor(spec, FIELDS, build=self._build, lang=lang)
        self.fields.observe(self._on_fields, names=["value", "error"])
        self.epochs = W.BoundedIntText(value=epochs, min=1, max=10_000, description=t("preview_epochs", lang),
                                       style=LABEL, tooltip=t("preview_epochs.tip", lang))
        self.steps_per_epoch = W.BoundedIntText(value=steps_per_epoch, min=1, max=100_000, style=LABEL,
                                                description=t("steps_per_epoch", lang),
                                                tooltip=t("steps_per_epoch.tip", lang))
        for w in (self.epochs, self.steps_per_epoch):
            w.observe(self.redraw, names="value")
        self.plot = LRCurveFigure()
        self.image = W.Image(format="png", layout=W.Layout(width="440px"))
        self.find_button = W.Button(description=t("find_lr", lang), icon="search", tooltip=t("find_lr.tip", lang))
        self.use_button = W.Button(description=t("use_suggestion", lang, lr="\u2026"), disabled=True, icon="check",
                                   layout=W.Layout(width="auto"))
        self.find_button.on_click(self.find_lr)
        self.use_button.on_click(self.use_suggestion)
        self.find_image = W.Image(format="png", layout=W.Layout(width="440px", display="none"))
        self.find_message = W.HTML()
        self.code = W.HTML()
        self.code.layout.display = "none"
        self.show_code = W.ToggleButton(description=t("code", lang), icon="code", layout=W.Layout(width="auto"))
        self.show_code.observe(lambda c: setattr(self.code.layout, "display", "" if c["new"] else "none"),
                               names="value")
        # the LR finder's line sits under the parameters, where max_lr is (its button names what it sets)
        super().__init__([
            W.HBox([self.type, self.message]), self.params_box,
            W.HBox([self.find_button, self.find_message, self.use_button]), self.find_image, self.fields,
            W.HTML(f"<b>{t('lr_preview', lang)}</b>"), W.HBox([self.epochs, self.steps_per_epoch]), self.image,
            W.HBox([self.show_code]), self.code])
        self.type.observe(self._on_type, names="value")
        self.value = spec
        self.spec = spec

    # -- the spec ------------------------------------------------------------------------------
    @property
    def spec(self) -> SchedSpec:
        return self.value.copy()

    @spec.setter
    def spec(self, spec: SchedSpec) -> None:
        with loading(self):
            self.type.value = spec.type
            self._set_params(spec.type, spec.params)
            self.fields.set_spec(spec)
            self.fields.refresh()
        self._on_fields()

    @property
    def optim_spec(self) -> OptimSpec:
        return self._optim.copy()

    @optim_spec.setter
    def optim_spec(self, optim_spec: OptimSpec) -> None:
        self._optim = optim_spec.copy()
        self.redraw()

    def _build(self, fields: dict) -> SchedSpec:
        return SchedSpec.from_dict({"type": self.type.value, **fields, **self.params.value})

    def _params_editor(self, type_: str, params: dict) -> ParamsEditor:
        ed = ParamsEditor(SchedSpec.entry_for(type_, "type"), params, lang=self.lang)
        ed.observe(self._on_params, names=["value", "error"])
        return ed

    def _set_params(self, type_: str, params: dict) -> None:
        self.params = self._params_editor(type_, params)
        self.params_box.children = (self.params,)
        self._use_target()

    def _use_target(self) -> None:
        """The use button sets max_lr where the scheduler has one, else the optimizer's lr (through set_lr)."""
        target = "max_lr" if self.params.entry.param("max_lr") is not None else "lr"
        self.use_button.disabled = self.suggested_lr is None or (target == "lr" and self.set_lr is None)
        self.use_button.tooltip = t("use_suggestion.tip", self.lang, field=target)

    def _on_type(self, change) -> None:
        if self._loading:
            return
        self._set_params(change["new"], {})
        self._on_params()

    def _on_params(self, change=None) -> None:
        if getattr(self, "_loading", False):
            return
        with loading(self):
            self.fields.refresh()
        self._on_fields()

    def _on_fields(self, change=None) -> None:
        if getattr(self, "_loading", False):
            return
        err = self.params.error or self.fields.error
        if err:
            self._show_error(err)
        else:
            self.redraw(spec=self.fields.value)

    def _show_error(self, err: str) -> None:
        self.message.value = error_html(err)
        self.error = err

    # -- the preview -----------------------------------------------------------------------------
    def redraw(self, change=None, spec: SchedSpec | None = None) -> bytes | None:
        """Compute the LR curve of ``spec`` (default: the current one) over the preview's epochs and steps and
        render it into the image. A spec that cannot run that long (a warm-up longer than the run, OneCycleLR's
        total_steps too small) keeps the last valid spec and shows why."""
        from ..codegen import scheduler_code
        from ..optim import lr_curve
        pending = self.params.error or self.fields.error
        if spec is None:  # what the inputs say, when they can be read; else the last valid spec
            spec = self.value if pending else self.fields.value
        try:
            curves = lr_curve(self._optim, spec, self.epochs.value, self.steps_per_epoch.value)
        except NbtrainError as e:
            self._show_error(str(e))
            return None
        self._show_error(pending)
        self.value = spec
        self.code.value = _code_html(scheduler_code(spec, self.epochs.value, self.steps_per_epoch.value))
        if not self.draw:
            return None
        self.plot.update(curves, self.steps_per_epoch.value)
        png = figure_png(self.plot.fig)
        self.image.value = png
        return png

    def show(self) -> None:
        """Draw the curve from now on (the Workbench calls it when the Schedule tab is first opened)."""
        if not self.draw:
            self.draw = True
            self.redraw()

    # -- the LR finder ---------------------------------------------------------------------------
    def find_lr(self, _=None) -> None:
        from .plots import lr_find_figure
        if self.lr_finder is None:
            self.find_message.value = error_html("the LR finder needs a model and data: use it from the Workbench, "
                                                 "or set picker.lr_finder = lambda: nbtrain.lr_find(spec)")
            return
        self.find_message.value = t("finding", self.lang)
        try:
            result = self.lr_finder()
        except NbtrainError as e:
            self.find_message.value = error_html(str(e))
            return
        except Exception as e:  # noqa: BLE001 - a failure of torch or of the data: shown, kept on .last_error
            self.last_error = e
            self.find_message.value = error_html(f"the LR finder failed: {type(e).__name__}: {e}")
            return
        self.find_image.value = figure_png(lr_find_figure(result.lrs, result.losses, result.suggestion))
        self.find_image.layout.display = ""
        self.suggested_lr = result.suggestion
        self.find_message.value = t("suggested", self.lang, lr=f"{result.suggestion:.3g}")
        self.use_button.description = t("use_suggestion", self.lang, lr=f"{result.suggestion:.3g}")
        self._use_target()

    def use_suggestion(self, _=None) -> None:
        """Set the scheduler's max_lr (where it has one, else the optimizer's lr) to the LR finder's suggestion."""
        if self.suggested_lr is None:
            return
        lr = float(f"{self.suggested_lr:.3g}")
        if "max_lr" in self.params.fields:
            self.params.fields["max_lr"].set(lr)
        elif self.set_lr is not None:
            self.set_lr(lr)


def _code_html(code: str) -> str:
    from .optimizer import code_html
    return code_html(code)
