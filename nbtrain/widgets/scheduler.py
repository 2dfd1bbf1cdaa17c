"""SchedulerPicker: the LR scheduler's type and parameters, warm-up, per-step or per-epoch, SWA, and a
live LR curve (``lr_curve``) over the chosen epochs and steps per epoch, redrawn on every change."""
from __future__ import annotations

import ipywidgets as W
import traitlets as T

from ..build.optim import lr_curve
from ..codegen import scheduler_code
from ..errors import NbtrainError
from ..i18n import t
from ..spec.catalog import SCHEDULERS
from ..spec.trainspec import OptimSpec, SchedSpec
from ..viz import to_png as figure_png
from .common import SpecValue, code_html, code_toggle
from .compat import Picture, tip
from .fields import FieldsEditor
from .loading import loading
from .lrfind import HasFinder, LRFinder
from .params import LABEL, ParamsEditor, error_html
from .plots import LRCurveFigure

FIELDS = ("interval", "warmup", "warmup_start_factor", "monitor", "swa", "swa_start", "swa_lr", "swa_anneal_epochs")


class SchedulerPicker(HasFinder, SpecValue, W.VBox):
    """Edits a SchedSpec; ``value`` (also ``.spec``) is the last valid one.

    ``optim_spec`` (the base LR and param groups), ``epochs`` and ``steps_per_epoch`` only shape the
    preview. ``lr_finder``, when set, is a function returning an LR-finder result (or give ``finder``, the
    LRFinder the Workbench shares with its optimizer picker); a scheduler with ``max_lr`` offers its suggestion
    right beside that field (the optimizer's lr has its own, in the Optimizer tab). ``draw`` False: the curve is
    checked but not drawn until ``show()`` (the Workbench draws it when its tab is first opened).
    """
    value = T.Any()
    error = T.Unicode("")

    def __init__(self, sched_spec: SchedSpec | None = None, optim_spec: OptimSpec | None = None,
                 epochs: int = 10, steps_per_epoch: int = 20, lr_finder=None, lang: str = "en", draw: bool = True,
                 finder: LRFinder | None = None):
        self._loading, self.lang, self.draw = True, lang, draw
        spec = (sched_spec or SchedSpec()).copy()
        self._optim = (optim_spec or OptimSpec()).copy()
        self.finder = finder or LRFinder(lr_finder, lang)
        self.max_lr_line = self.finder.line("max_lr", lambda lr: self.params.fields["max_lr"].set(lr))
        self.type = W.Dropdown(options=[(t("constant", lang), "")] + [(n, n) for n in sorted(SCHEDULERS)],
                               value=spec.type, description=t("scheduler", lang), style=LABEL,
                               layout=W.Layout(width="340px"))
        self.message = W.HTML()
        self.params_box = W.VBox()
        self._set_params(spec.type, spec.params)
        self.fields = FieldsEditor(spec, FIELDS, build=self._build, lang=lang)
        self.fields.observe(self._on_fields, names=["value", "error"])
        self.epochs = tip(W.BoundedIntText(value=epochs, min=1, max=10_000, description=t("preview_epochs", lang),
                                           style=LABEL), t("preview_epochs.tip", lang))
        self.steps_per_epoch = tip(W.BoundedIntText(value=steps_per_epoch, min=1, max=100_000, style=LABEL,
                                                    description=t("steps_per_epoch", lang)),
                                   t("steps_per_epoch.tip", lang))
        for w in (self.epochs, self.steps_per_epoch):
            w.observe(self.redraw, names="value")
        self.plot = LRCurveFigure()
        self.image = Picture(layout=W.Layout(width="440px"))
        self.code, self.show_code = code_toggle(lang)
        # the LR finder's line sits beside max_lr (a scheduler without one has none); its curve under the parameters
        # when the finder is this picker's own (a shared one shows it in the Optimizer tab, beside lr)
        curve = () if finder is not None else (self.finder.image,)
        super().__init__([
            W.HBox([self.type, self.message]), self.params_box, *curve, self.fields,
            W.HTML(f"<b>{t('lr_preview', lang)}</b>"), W.HBox([self.epochs, self.steps_per_epoch]), self.image,
            W.HBox([self.show_code]), self.code])
        self._begin(spec)

    # -- the spec ------------------------------------------------------------------------------
    def set_spec(self, spec: SchedSpec) -> None:
        """Show ``spec`` in every input (``.spec = spec`` does the same)."""
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
        if "max_lr" in self.params.fields:
            self.params.fields["max_lr"].beside(self.max_lr_line)

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
        self.code.value = code_html(scheduler_code(spec, self.epochs.value, self.steps_per_epoch.value))
        if not self.draw:
            return None
        self.plot.update(curves, self.steps_per_epoch.value)
        png = figure_png(self.plot.fig)
        self.image.png = png
        return png

    def show(self) -> None:
        """Draw the curve from now on (the Workbench calls it when the Schedule tab is first opened)."""
        if not self.draw:
            self.draw = True
            self.redraw()

    # -- the LR finder ---------------------------------------------------------------------------
    @property
    def suggested_lr(self) -> float | None:
        return self.finder.suggestion

    def find_lr(self, _=None):
        """Run the LR finder; its suggestion is then offered beside max_lr (and the optimizer's lr)."""
        return self.finder.find()

