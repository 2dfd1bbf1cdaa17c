"""The training doctor: common mistakes noticed while training, each said once, with its fix.

A callback, on by default. It watches the events (the loss trend at log points, the model's mode after a step)
and looks at the model's inputs through forward pre-hooks: the first training batch (normalization) and every
BatchNorm input (batch size 1). Each warning is kept in ``self.said`` and in the run record's notes
(``state.note``); a display that shows the notes (the live dashboard: ``shows_notes``) is where a notebook user
reads it, so the default ``emit`` (``warnings.warn`` with ``DoctorWarning``) speaks only when no such display runs.
A loss that is not finite is NanGuard's to report (nbtrain/sinks/nan_guard.py), not the doctor's. Which transforms
are random is the catalog's (nbtrain.spec.catalog.is_random). With layer statistics in the run record (fit() adds a
LayerStats sink), the rules of nbtrain/sinks/layerrules.py read them: vanishing or exploding gradients and an
update/weight ratio far from ~1e-3 at log points, dead ReLUs at epoch ends; on CUDA, the peak memory near the
device's total.
"""
from __future__ import annotations

import collections
import math
import warnings

from ..spec.catalog import METRICS, default_lr, is_random, loss_kind, metric_mode
from ..train.callbacks import Callback
from ..train.history import record_of
from . import layerrules as rules
from .memory import cuda_memory, near_limit


class DoctorWarning(UserWarning):
    """A likely mistake in how a model is trained (nbtrain's training doctor)."""


class Doctor(Callback):
    """Warn once per mistake: eval mode in training, Softmax before CrossEntropyLoss, a loss trend going up, a
    monitor whose mode says a higher loss or a lower accuracy is better,
    random augmentation in validation, unnormalized inputs, BatchNorm with batch size 1; with LayerStats:
    vanishing / exploding gradients, an update/weight ratio far from ~1e-3, dead ReLUs; GPU memory near its limit.

    The loss trend is an EMA of the loss at log points (``smooth``); it "rose" when it has stayed above its lowest
    value so far by more than ``rel`` of that value *and* by more than ``abs_rise`` for ``rising`` log points in a
    row: noise near zero loss (0.0025 -> 0.0126) passes, a divergence (1.0 -> 3.0) does not.
    ``emit(code, msg)``: where a warning goes (default: a DoctorWarning, unless the dashboard shows the notes).
    """

    state_key = "doctor"         # what it said goes into checkpoints: a resumed run does not say it again

    def __init__(self, rising: int = 5, rel: float = 0.5, abs_rise: float = 0.05, smooth: float = 0.6, emit=None):
        self.rising, self.rel, self.abs_rise, self.smooth = rising, rel, abs_rise, smooth
        self.emit = emit
        self.said: dict[str, str] = {}
        self._trend: collections.deque = collections.deque(maxlen=rising)   # the last ``rising`` trend values
        self._low = math.inf                 # the lowest trend value before them (a running min: O(1) per log)
        self._last = None
        self._lowest = math.inf              # the lowest loss logged so far (the explosion rule)
        self._hooks: list = []
        self._first = None
        self._state = None
        self._layers, self._seen = None, [0, 0]      # the run record (its layer statistics), rows read so far

    def state_dict(self) -> dict:
        return {"said": dict(self.said)}

    def load_state_dict(self, d: dict) -> None:
        self.said = dict(d.get("said", {}))

    def warn(self, code: str, msg: str) -> None:
        if code in self.said:
            return
        self.said[code] = msg
        if self.emit is not None:
            if self._state is not None:
                self._state.notes.append(msg)
            self.emit(code, msg)
        elif self._state is not None:
            self._state.note(msg, DoctorWarning)
        else:
            warnings.warn(msg, DoctorWarning, stacklevel=2)

    # -- events ----------------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        self._state, self._seen = state, [0, 0]
        self._trend, self._low, self._last = collections.deque(maxlen=self.rising), math.inf, None
        self._lowest = math.inf              # the lowest loss logged so far (the explosion rule)
        self._layers = record_of(state)
        self._check_monitor(self._layers)
        model = state.model
        if model is None:
            return
        self._check_softmax(model, state.loss_fn)
        self._check_val_pipeline(state)
        if state.step == 0:   # a resumed run's first batch is not the run's: its record keeps what the first said
            self._first = model.register_forward_pre_hook(self._first_input)
        for name, m in model.named_modules():
            if type(m).__name__.startswith(("BatchNorm", "LazyBatchNorm")):
                self._hooks.append(m.register_forward_pre_hook(self._bn_input(name)))

    def on_batch_end(self, state, logs) -> None:
        if state.model is not None and not state.model.training:
            self.warn("eval_mode", "the model was in eval mode during a training step, so Dropout is off and "
                      "BatchNorm does not learn its statistics (call model.train() before training steps; a "
                      "callback that calls model.eval() must switch back with model.train())")

    def on_log(self, state, logs) -> None:
        self._check_layers(state)
        self._check_memory(state)
        loss = logs.get("loss")
        if not isinstance(loss, (int, float)) or not math.isfinite(loss):
            return                                    # not finite: NanGuard says so and stops the run
        self._check_explosion(state, float(loss))
        prev = self._last if self._last is not None else float(loss)
        self._last = self.smooth * prev + (1 - self.smooth) * float(loss)
        if len(self._trend) == self.rising:          # the oldest of the recent values leaves them for the low
            self._low = min(self._low, self._trend[0])
        self._trend.append(self._last)
        if self._low == math.inf:
            return
        low, recent = self._low, list(self._trend)
        if all(t - low > self.rel * abs(low) and t - low > self.abs_rise for t in recent):
            lr = _lr(state)
            lower = f"lower the learning rate to {lr / 10:.3g} (LR / 10)" if lr else "lower the learning rate (LR / 10)"
            self.warn("loss_rising", f"the loss trend rose from {low:.4g} to {recent[-1]:.4g} over the last "
                      f"{self.rising} log points, at step {state.step} ({lower})")

    def on_epoch_end(self, state, logs) -> None:
        h = self._layers
        if h is not None and len(h.act_rows) > self._seen[1]:
            self._seen[1] = len(h.act_rows)
            self._say(rules.dead_units(h.act_rows[-1], h.act_names))
        self._check_memory(state)

    def on_fit_end(self, state) -> None:
        for h in self._hooks + ([self._first] if self._first is not None else []):
            h.remove()
        self._hooks, self._first = [], None

    # -- checks ----------------------------------------------------------------------------------
    def _say(self, found) -> None:
        if found is not None:
            self.warn(*found)

    def _check_layers(self, state) -> None:
        h = self._layers
        if h is None or len(h.layer_rows) == self._seen[0]:
            return
        self._seen[0] = len(h.layer_rows)
        self._say(rules.vanishing(h.layer_rows, h.layer_names))
        self._say(rules.exploding(h.layer_rows, h.layer_names))
        self._say(rules.update_ratio(h.layer_rows, _lr(state)))

    def _check_explosion(self, state, loss: float) -> None:
        """A loss far beyond any a training run has: a cross-entropy above ``EXPLODED_CE``, or any loss 1000 times
        its lowest so far (the rising trend misses a loss that is huge from the first log point on: Adam at lr 1000)."""
        low, self._lowest = self._lowest, min(self._lowest, loss)
        if "loss_exploded" in self.said:
            return
        if loss_kind(state.loss_fn) == "classification" and loss > EXPLODED_CE:
            why = (f"a cross-entropy above {EXPLODED_CE:g}, which gives the right class a probability below e^-"
                   f"{EXPLODED_CE:g}: the weights diverged")
        elif 0 < low < math.inf and loss > 1000 * low:
            why = f"over 1000 times its lowest value so far ({low:.3g}): the training diverges"
        else:
            return
        self.warn("loss_exploded", f"the loss is {loss:.3g} at step {state.step}, {why} ({_lower_lr(state)}, or set "
                  "grad_clip=1.0)")

    def _check_memory(self, state) -> None:
        if "memory" not in self.said:
            bs = getattr(state.train_loader, "batch_size", None)
            found = near_limit(cuda_memory(state.device), bs)
            self._say(("memory", found) if found else None)

    def _check_monitor(self, record) -> None:
        """The run's monitor judged against its catalog direction (the loss and the catalog's metrics only)."""
        key, mode = record.monitor, record.mode
        if key.removeprefix("swa_").removeprefix("val_") not in ("loss", *METRICS) or mode == metric_mode(key):
            return
        self.warn("monitor_mode", f"the best epoch, best.pt and early stopping watch {key!r} with mode={mode!r}, so "
                  f"a {'lower' if mode == 'min' else 'higher'} {key} counts as better (pass mode={metric_mode(key)!r} "
                  f"with monitor={key!r})")

    def _check_softmax(self, model, loss_fn) -> None:
        if type(loss_fn).__name__ != "CrossEntropyLoss":
            return
        leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
        if leaves and type(leaves[-1][1]).__name__ in ("Softmax", "LogSoftmax"):
            name, last = leaves[-1]
            self.warn("softmax_ce", f"the last layer {name!r} ({type(last).__name__}) feeds CrossEntropyLoss, which "
                      "applies log-softmax itself, so the gradients are squashed (remove the last "
                      f"{type(last).__name__}: the model should output raw logits)")

    def _check_val_pipeline(self, state) -> None:
        found = _random_in_spec(state.spec) or _random_in_loader(state.val_loader)
        if found:
            self.warn("val_random", f"the validation pipeline has random augmentation ({found}), so val metrics "
                      "change from run to run (move it to the train pipeline: data.train_transforms)")

    def _first_input(self, module, inputs):
        if not module.training or not inputs:
            return
        x = inputs[0]
        if not (hasattr(x, "is_floating_point") and x.is_floating_point() and x.numel() > 1):
            return
        if self._first is not None:
            self._first.remove()
            self._first = None
        mean, std = x.detach().float().mean().item(), x.detach().float().std().item()
        if abs(mean) > 1.0 or not 0.5 <= std <= 2.0:
            self.warn("unnormalized", f"the first training batch has mean {mean:.3g} and std {std:.3g}, far from 0 and 1 "
                      "(normalize the inputs: add Normalize(mean, std) to the pipelines with the values of "
                      "nbtrain.normalize_stats(spec.data), or StandardScaler for tabular data)")

    def _bn_input(self, name: str):
        def hook(module, inputs):
            if module.training and inputs and getattr(inputs[0], "shape", (2,))[0] == 1:
                self.warn("bn_batch1", f"BatchNorm layer {name!r} got a batch of 1 sample in training, so its batch "
                          "statistics are meaningless (set data.drop_last=True, or pick a batch size that does "
                          "not leave a last batch of 1)")
        return hook


EXPLODED_CE = 50.0


def _lower_lr(state) -> str:
    """'lower the learning rate: it is 1000, and Adam usually trains near 0.001'."""
    lr, opt = _lr(state), type(state.optimizer).__name__
    try:
        usual = f", and {opt} usually trains near {default_lr(opt):g}"
    except Exception:        # noqa: BLE001 - an optimizer the catalog does not know
        usual = ""
    return f"lower the learning rate: it is {lr:g}{usual}" if lr else "lower the learning rate"


def _lr(state) -> float:
    opt = state.optimizer
    try:
        return float(opt.param_groups[0]["lr"])
    except (AttributeError, IndexError, KeyError, TypeError):
        return 0.0


def _random_in_spec(spec) -> str:
    data = getattr(spec, "data", None)
    for t in getattr(data, "val_transforms", None) or []:
        if is_random(t.type):
            return t.type
    return ""


def _random_in_loader(loader) -> str:
    """Random torchvision transforms reachable from a DataLoader's dataset (through Subset and Compose)."""
    ds = getattr(loader, "dataset", None)
    seen = 0
    while ds is not None and seen < 5:
        for attr in ("transform", "transforms"):
            name = _random_in_transform(getattr(ds, attr, None))
            if name:
                return name
        ds, seen = getattr(ds, "dataset", None), seen + 1
    return ""


def _random_in_transform(t, depth: int = 0) -> str:
    if t is None or depth > 4:
        return ""
    mod = type(t).__module__ or ""
    if mod.startswith("torchvision") and is_random(type(t).__name__):
        return type(t).__name__
    for child in getattr(t, "transforms", None) or []:
        name = _random_in_transform(child, depth + 1)
        if name:
            return name
    return ""
