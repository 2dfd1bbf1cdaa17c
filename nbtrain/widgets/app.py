"""Workbench: the pickers in tabs (Data, Model, Optimizer, Schedule, Train), a Train button that runs
fit(), Save / Load of the spec as JSON, and the whole run as a script to copy or download.
``workbench.spec`` is always the current TrainSpec. ``lang="zh"`` shows it in Chinese (errors stay English)."""
from __future__ import annotations

import threading
import traceback

import ipywidgets as W
import traitlets as T

from ..build.model import build_model
from ..build.optim import split_params
from ..codegen import to_code
from ..env import in_notebook
from ..errors import NbtrainError
from ..i18n import check_lang, t
from ..sinks.dashboard import Dashboard, wants_widgets
from ..spec.catalog import LOSSES
from ..spec.trainspec import TrainSpec
from ..train.background import start_background
from ..train.history import STOPPED_BY_YOU
from ..train.loop import fit as loop_fit
from ..train.lrfind import lr_find
from .common import code_html
from .compat import tab, tip
from .fields import FieldsEditor
from .front import download_html, make_copy_button
from .layers import LayerBuilder
from .lrfind import LRFinder
from .optimizer import OptimizerPicker
from .params import LABEL, error_html
from .rows import hide
from .scheduler import SchedulerPicker
from .transforms import TransformPicker, is_tabular

LOOP_FIELDS = ("epochs", "loss", "metrics", "device", "amp", "grad_clip", "seed", "log_every", "logdir", "run_name",
               "checkpoint_dir", "early_stopping", "monitor", "mode")
TABS = ("Data", "Model", "Optimizer", "Schedule", "Train")
# the front end's own colours (light and dark themes), and the rows' look: compact, nothing wraps. A layer row's
# buttons take the place of its shape and parameter count while the row is hovered, focused or selected (as a mail
# list's do): the rows and the diagram then fit 1300 px with JupyterLab's file browser open.
ROW = ".nbtrain-wb .nbtrain-model .nbtrain-row"
STYLE = f"""<style>
.nbtrain-wb .widget-inline-hbox {{ flex-wrap: nowrap; }}
.nbtrain-wb .nbtrain-selected {{ background: var(--jp-layout-color2); }}
.nbtrain-wb .widget-html-content {{ white-space: nowrap; }}
.nbtrain-wb .nbtrain-msg .widget-html-content {{ white-space: normal; }}
{ROW}:not(:hover):not(:focus-within):not(.nbtrain-selected) .nbtrain-act {{ display: none; }}
{ROW}:is(:hover, :focus-within, .nbtrain-selected) .nbtrain-info {{ display: none; }}
</style>"""


class Workbench(W.VBox):
    """All the editors over one TrainSpec. ``error`` names the first invalid part (then Train is disabled)."""
    error = T.Unicode("")

    def __init__(self, spec: TrainSpec | None = None, fit=None, preview: bool = True, background: bool | None = None,
                 lang: str | None = None):
        """``fit`` replaces nbtrain.fit (tests); ``background`` trains in a thread (a Run) so the notebook stays
        responsive and Stop works; default: in a notebook, yes. ``lang``: 'en' or 'zh' (default: the locale's)."""
        spec = (spec or TrainSpec.default()).copy()
        if background is None:
            background = in_notebook()
        self.lang = lang = check_lang(lang)
        self._fit, self.history, self.run, self.background, self._watcher = fit, None, None, background, None
        self._stopped_by_user = False
        self.data = TransformPicker(spec.data, preview=preview, lang=lang)
        shape, classes, steps = self.data.info
        self.model = LayerBuilder(spec.model, shape, num_classes=classes, lang=lang)
        self.finder = LRFinder(lambda: self.lr_find(), lang)   # one range test; beside lr and beside max_lr
        self.optim = OptimizerPicker(spec.optim, lang=lang, finder=self.finder)
        self.sched = SchedulerPicker(spec.sched, spec.optim, epochs=spec.loop.epochs, steps_per_epoch=steps,
                                     lang=lang, draw=False, finder=self.finder)
        self.loop = FieldsEditor(spec.loop, LOOP_FIELDS, where="loop", choices={"loss": sorted(LOSSES)}, lang=lang)
        self.mlp_button = W.Button(description=t("use_mlp", lang), icon="magic", button_style="warning",
                                   layout=W.Layout(width="auto", display="none"))
        self.mlp_button.on_click(lambda _: self.model.apply_preset("MLP"))
        self.data.children = (*self.data.children[:2], W.HBox([self.mlp_button]), *self.data.children[2:])
        self._make_train_tab()
        self._make_file_line()
        self.tabs = tab([self.data, self.model, self.optim, self.sched, self.train_tab],
                        [t(f"tab.{n.lower()}", lang) for n in TABS])
        self.tabs.observe(self._on_tab, names="selected_index")
        super().__init__([W.HTML(STYLE), self.file_line, self.tabs])
        self.add_class("nbtrain-wb")
        for part in (self.data, self.model, self.optim, self.sched, self.loop):
            part.observe(self._changed, names=["value", "error"])
        self._changed()

    def _make_train_tab(self) -> None:
        lang = self.lang
        self.train_button = W.Button(description=t("train", lang), icon="play", button_style="success")
        self.train_button.on_click(self.train)
        self.stop_button = W.Button(description=t("stop", lang), icon="stop", disabled=True, tooltip=t("stop.tip", lang))
        self.stop_button.on_click(lambda _: self.stop())
        self.processes = tip(W.BoundedIntText(value=1, min=1, max=256, description=t("processes", lang), style=LABEL,
                                              layout=W.Layout(width="170px")), t("processes.tip", lang))
        self.status = W.HTML()
        self.status.add_class("nbtrain-msg")
        self.output = W.Output()
        self.code = W.HTML()
        self.code_button = W.Button(description=t("show_code", lang), icon="code", tooltip=t("show_code.tip", lang))
        self.code_button.on_click(lambda _: self.show_code())
        self.copy_button = make_copy_button(t("copy", lang), t("copy.tip", lang))
        self.download = W.HTML()
        self.code_tools = W.HBox([self.copy_button, self.download], layout=W.Layout(display="none"))
        self.train_tab = W.VBox([self.loop, W.HBox([self.train_button, self.stop_button, self.processes, self.status]), self.output,
                                 W.HBox([self.code_button, self.code_tools]), self.code])

    def _make_file_line(self) -> None:
        lang = self.lang
        self.path = W.Text(value="spec.json", description=t("spec_file", lang), continuous_update=False)
        self.save_button = W.Button(description=t("save", lang), icon="save", tooltip=t("save.tip", lang))
        self.load_button = W.Button(description=t("load", lang), icon="folder-open", tooltip=t("load.tip", lang))
        self.save_button.on_click(lambda _: self.save())
        self.load_button.on_click(lambda _: self.load())
        self.file_message = W.HTML()
        self.file_line = W.HBox([self.path, self.save_button, self.load_button, self.file_message])

    def _on_tab(self, change) -> None:
        """What a tab shows only when looked at is made on its first view (the LR curve)."""
        if change["new"] == TABS.index("Schedule"):
            self.sched.show()

    # -- the spec --------------------------------------------------------------------------------------
    @property
    def spec(self) -> TrainSpec:
        """The current TrainSpec: every tab's last valid part."""
        return TrainSpec(data=self.data.spec, model=self.model.spec, optim=self.optim.spec, sched=self.sched.spec,
                         loop=self.loop.value.copy())

    @spec.setter
    def spec(self, spec: TrainSpec) -> None:
        self.data.spec = spec.data
        self.model.spec = spec.model
        self.optim.spec = spec.optim
        self.sched.spec = spec.sched
        self.loop.set_spec(spec.loop)
        self._changed()

    def save(self, path: str | None = None) -> None:
        path = path or self.path.value
        try:
            self.spec.save(path)
        except OSError as e:
            self.file_message.value = error_html(f"{path}: cannot write ({e.strerror})")
            return
        self.file_message.value = t("saved", self.lang, path=path)

    def load(self, path: str | None = None) -> None:
        path = path or self.path.value
        try:
            spec = TrainSpec.load(path)
        except NbtrainError as e:
            self.file_message.value = error_html(str(e))
            return
        self.spec = spec
        self.file_message.value = t("loaded", self.lang, path=path)

    # -- keeping the tabs in step ----------------------------------------------------------------------
    def _changed(self, change=None) -> None:
        if not hasattr(self, "tabs"):
            return
        if change is None or change["owner"] is self.data:
            shape, classes, steps = self.data.info
            self.model.num_classes = classes
            if tuple(shape) != tuple(self.model.input_shape):
                self.model.input_shape = shape
            self.sched.steps_per_epoch.value = steps
        if change is None or change["owner"] is self.optim:
            self.sched.optim_spec = self.optim.value
        if change is None or change["owner"] is self.loop:
            self.sched.epochs.value = self.loop.value.epochs
        parts = list(zip(TABS, (self.data, self.model, self.optim, self.sched, self.loop)))
        self.error = next((f"{name}: {p.error}" for name, p in parts if p.error), "") or self._cross_check()
        bad = self.error.split(":")[0] if self.error else ""
        hide(self.mlp_button, not (is_tabular(self.data.value.dataset) and "needs input of shape (C" in self.error))
        self.train_button.disabled = bool(self.error)
        self.train_button.tooltip = f"fix first: {self.error}" if self.error else t("train.tip", self.lang)
        # the error itself shows once, where it is (its row or field); here only which tab to look at
        where = t(f"tab.{bad.lower()}", self.lang) if bad in TABS else bad
        self.status.value = error_html(t("cannot_train", self.lang, where=where)) if self.error else ""

    def _cross_check(self) -> str:
        """What no single tab can see: the model's outputs against the data's classes, and the optimizer's
        param-group patterns against the model's layer names."""
        classes = self.data.info[1]
        if self.data.task == "classification" and self.loop.value.loss in ("CrossEntropyLoss", "NLLLoss"):
            why = self.model.check_classes(classes, self.data.value.dataset)
            if why:
                return f"Model: {why}"
        self.optim.message.value = error_html(self.optim.error)
        if not self.optim.value.groups:
            return ""
        try:
            split_params(self.optim.value, build_model(self.model.value, self.model.input_shape))
        except NbtrainError as e:
            self.optim.message.value = error_html(str(e))
            return f"Optimizer: {e}"
        return ""

    # -- actions ---------------------------------------------------------------------------------------
    def lr_find(self):
        return lr_find(self.spec)

    def show_code(self) -> str | None:
        """The whole run as a script, shown with Copy (to the clipboard) and Download .py."""
        try:
            code = to_code(self.spec)
        except NbtrainError as e:
            self.code.value = error_html(str(e))
            hide(self.code_tools)
            return None
        self.code.value = code_html(code)
        if hasattr(self.copy_button, "text"):
            self.copy_button.text = code
        self.download.value = download_html(code, "train.py", t("download", self.lang))
        hide(self.code_tools, False)
        return code

    def stop(self) -> None:
        """Stop the background run after the batch in progress."""
        if self.run is not None:
            self._stopped_by_user = True
            self.run.stop()

    def train(self, _=None):
        """Run fit() on the current spec, its progress (or live dashboard) in the Train tab."""
        if self.error:
            self.status.value = error_html(f"cannot train: {self.error}")
            return None
        fit = self._fit or loop_fit
        self.train_button.disabled = True
        self._stopped_by_user = False
        self.status.value = t("training", self.lang)
        self.output.clear_output()
        try:
            with self.output:
                kw = {**self._dashboard(), **self._processes()}
                if self.background:
                    # what fit(spec, background=True) does: the dashboard shown here, the fit in a thread
                    self.run = start_background({"spec": self.spec, **kw}, fit=fit)
                else:
                    self.history = fit(self.spec, **kw)
        except Exception as e:  # shown in the UI (see _failed), never swallowed
            self._failed(e)
            return self.history
        if self.background:
            self.stop_button.disabled = False
            self._watcher = threading.Thread(target=self._watch, name="nbtrain-workbench", daemon=True)
            self._watcher.start()
            return self.run
        self._done()
        return self.history

    def _processes(self) -> dict:
        """More than one process: fit(spec, processes=N), N workers started with torchrun (nbtrain.train.launch)."""
        return {"processes": self.processes.value} if self.processes.value > 1 else {}

    def _dashboard(self) -> dict:
        """fit's live dashboard, in the Workbench's language (a plain fit's stays English): made here where fit
        would make one (a notebook with anywidget); elsewhere fit's own default."""
        if not wants_widgets():
            return {}
        dash = Dashboard()
        dash.lang = self.lang
        dash.after_end.append(self._resend)
        return {"dashboard": dash}

    def _resend(self) -> None:
        """The Train tab's end state again, from the thread of the page's request (the dashboard's comm handler):
        the watcher thread set it, and a front end may drop what a background thread sends (Colab)."""
        if self._watcher is not None:
            self._watcher.join(5)
        for w in (self.status, self.train_button, self.stop_button):
            w.send_state()

    def _watch(self) -> None:
        """Background runs: wait for the end, then report as a foreground run does."""
        try:
            self.history = self.run.wait()
        except Exception as e:
            self._failed(e)
        else:
            self._done()

    def _failed(self, e: BaseException) -> None:
        if isinstance(e, NbtrainError):
            self.status.value = error_html(str(e))
        else:
            self.last_error = e
            self.status.value = error_html(f"training failed: {type(e).__name__}: {e}")
            self.output.append_stdout("".join(traceback.format_exception(e)))
        self._idle()

    def _done(self) -> None:
        epochs = getattr(self.history, "epochs", None) or []
        last = epochs[-1] if epochs else {}
        logs = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float))
        reason = getattr(self.history, "stop_reason", "")
        state = getattr(self.run, "state", None) if self.background else None
        epoch = state.epoch + 1 if state is not None else len(epochs)
        if self._stopped_by_user or reason == STOPPED_BY_YOU:
            self.status.value = t("stopped", self.lang, epoch=epoch, logs=logs)
        elif reason:
            self.status.value = t("stopped_early", self.lang, epoch=epoch, reason=reason, logs=logs)
        else:
            self.status.value = t("done", self.lang, logs=logs)
        self._idle()

    def _idle(self) -> None:
        self.stop_button.disabled = True
        self.train_button.disabled = bool(self.error)
