"""Workbench: the pickers in tabs (Data, Model, Optimizer, Schedule, Train), a Train button that runs
fit(), and Save / Load of the spec as JSON. ``workbench.spec`` is always the current TrainSpec."""
from __future__ import annotations

import threading
import traceback

import ipywidgets as W
import traitlets as T

from ..catalog import LOSSES
from ..errors import NbtrainError
from ..spec import TrainSpec
from .fields import FieldsEditor
from .layers import LayerBuilder
from .optimizer import OptimizerPicker, code_html
from .params import error_html
from .scheduler import SchedulerPicker
from .transforms import TransformPicker

LOOP_FIELDS = ("epochs", "loss", "metrics", "device", "amp", "grad_clip", "seed", "log_every", "logdir", "run_name",
               "checkpoint_dir", "early_stopping", "monitor", "mode")
TABS = ("Data", "Model", "Optimizer", "Schedule", "Train")


class Workbench(W.VBox):
    """All the editors over one TrainSpec. ``error`` names the first invalid part (then Train is disabled)."""
    error = T.Unicode("")

    def __init__(self, spec: TrainSpec | None = None, fit=None, preview: bool = True, background: bool | None = None):
        """``fit`` replaces nbtrain.fit (tests); ``background`` trains in a thread (a Run) so the notebook stays
        responsive and Stop works; default: in a notebook, yes."""
        spec = (spec or TrainSpec.default()).copy()
        if background is None:
            from ..env import in_notebook
            background = in_notebook()
        self._fit, self.history, self.run, self.background, self._watcher = fit, None, None, background, None
        self.data = TransformPicker(spec.data, preview=preview)
        shape, classes, steps = self.data.info
        self.model = LayerBuilder(spec.model, shape, num_classes=classes)
        self.optim = OptimizerPicker(spec.optim)
        self.sched = SchedulerPicker(spec.sched, spec.optim, epochs=spec.loop.epochs, steps_per_epoch=steps,
                                     lr_finder=lambda: self.lr_find())
        self.loop = FieldsEditor(spec.loop, LOOP_FIELDS, where="loop", choices={"loss": sorted(LOSSES)})
        self.set_lr = W.Button(description="Set optimizer lr from suggestion", disabled=True,
                               layout=W.Layout(width="auto"), tooltip="run Find LR first")
        self.set_lr.on_click(self.use_suggested_lr)
        self.sched.observe(lambda c: setattr(self.set_lr, "disabled", c["new"] is None), names="suggested_lr")
        self.train_button = W.Button(description="Train", icon="play", button_style="success")
        self.train_button.on_click(self.train)
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True,
                                    tooltip="stop the background run after the batch in progress")
        self.stop_button.on_click(lambda _: self.run is not None and self.run.stop())
        self.status = W.HTML()
        self.output = W.Output()
        self.path = W.Text(value="spec.json", description="spec file", continuous_update=False)
        self.save_button = W.Button(description="Save", icon="save", tooltip="write the spec as JSON")
        self.load_button = W.Button(description="Load", icon="folder-open", tooltip="read a JSON spec into every tab")
        self.save_button.on_click(lambda _: self.save())
        self.load_button.on_click(lambda _: self.load())
        self.file_message = W.HTML()
        self.code = W.HTML()
        self.code_button = W.Button(description="Show code", tooltip="the whole run as one plain-PyTorch script")
        self.code_button.on_click(lambda _: self.show_code())
        train_tab = W.VBox([self.loop, W.HBox([self.train_button, self.stop_button, self.status]), self.output,
                            self.code_button, self.code])
        self.tabs = W.Tab([self.data, self.model, self.optim, W.VBox([self.sched, self.set_lr]), train_tab],
                          titles=TABS)
        super().__init__([W.HBox([self.path, self.save_button, self.load_button, self.file_message]), self.tabs])
        for part in (self.data, self.model, self.optim, self.sched, self.loop):
            part.observe(self._changed, names=["value", "error"])
        self._changed()

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
        self.file_message.value = f"saved {path}"

    def load(self, path: str | None = None) -> None:
        path = path or self.path.value
        try:
            spec = TrainSpec.load(path)
        except NbtrainError as e:
            self.file_message.value = error_html(str(e))
            return
        self.spec = spec
        self.file_message.value = f"loaded {path}"

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
        parts = zip(TABS, (self.data, self.model, self.optim, self.sched, self.loop))
        self.error = next((f"{name}: {p.error}" for name, p in parts if p.error), "") or self._cross_check()
        self.train_button.disabled = bool(self.error)
        self.train_button.tooltip = f"fix first: {self.error}" if self.error else "train this spec"
        self.status.value = error_html(f"cannot train: {self.error}") if self.error else ""

    def _cross_check(self) -> str:
        """What no single tab can see: the model's outputs against the data's classes, and the optimizer's
        param-group patterns against the model's layer names."""
        classes, out = self.data.info[1], self.model.output_shape
        if self.data.task == "classification" and self.loop.value.loss in ("CrossEntropyLoss", "NLLLoss") \
                and out is not None and tuple(out) != (classes,):
            return (f"Model: the model gives outputs of shape {tuple(out)} but {self.data.value.dataset} has "
                    f"{classes} classes (make the last layer Linear with out_features={classes})")
        self.optim.message.value = error_html(self.optim.error)
        if not self.optim.value.groups:
            return ""
        from ..model import build_model
        from ..optim import split_params
        try:
            split_params(self.optim.value, build_model(self.model.value, self.model.input_shape))
        except NbtrainError as e:
            self.optim.message.value = error_html(str(e))
            return f"Optimizer: {e}"
        return ""

    # -- actions ---------------------------------------------------------------------------------------
    def lr_find(self):
        from ..lrfind import lr_find
        return lr_find(self.spec)

    def use_suggested_lr(self, _=None) -> None:
        if self.sched.suggested_lr is not None:
            self.optim.lr.value = float(f"{self.sched.suggested_lr:.3g}")

    def show_code(self) -> str | None:
        from ..codegen import to_code
        try:
            code = to_code(self.spec)
        except NbtrainError as e:
            self.code.value = error_html(str(e))
            return None
        self.code.value = code_html(code)
        return code

    def train(self, _=None):
        """Run fit() on the current spec, its progress (or live dashboard) in the Train tab."""
        if self.error:
            self.status.value = error_html(f"cannot train: {self.error}")
            return None
        fit = self._fit
        if fit is None:
            from ..loop import fit
        if self.background:
            from ..background import start_background
        self.train_button.disabled = True
        self.status.value = "training..."
        self.output.clear_output()
        try:
            with self.output:
                if self.background:
                    # what fit(spec, background=True) does: the dashboard shown here, the fit in a thread
                    self.run = start_background({"spec": self.spec}, fit=fit)
                else:
                    self.history = fit(self.spec)
        except Exception as e:  # noqa: BLE001 - shown in the UI (see _failed), never swallowed
            self._failed(e)
            return self.history
        if self.background:
            self.stop_button.disabled = False
            self._watcher = threading.Thread(target=self._watch, name="nbtrain-workbench", daemon=True)
            self._watcher.start()
            return self.run
        self._done()
        return self.history

    def _watch(self) -> None:
        """Background runs: wait for the end, then report as a foreground run does."""
        try:
            self.history = self.run.wait()
        except Exception as e:  # noqa: BLE001
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
        last = self.history.epochs[-1] if getattr(self.history, "epochs", None) else {}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float))
        self.status.value = f"done: {shown}"
        self._idle()

    def _idle(self) -> None:
        self.stop_button.disabled = True
        self.train_button.disabled = bool(self.error)
