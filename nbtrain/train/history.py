"""History: the run's record, the one append-only store of what a run produces (``fit`` returns it).

The loop and the producers append to it through the State (``state.history``): log points and epoch rows, the LR
of each group and the slider's scale events, the planned LR, validation insight, the doctor's notes, the layer
statistics, status and stop reason. Every display reads it with a cursor of its own (the dashboard's Feed, the
HTML export, the run JSON, TensorBoard, the progress bar, the status line); no sink asks another for its numbers.
The best epoch is the record's too: by the monitor and mode the run was given (``fit(monitor=..., mode=...)``).
"""
from __future__ import annotations

import copy
import json
import math
import warnings

from ..spec.catalog import metric_mode, monitor_mode
from .callbacks import Callback
from .plain import improved  # the exported script's early stopping judges with it too
from .valstats import per_class

KEEP_EVERY_MATRIX = 100     # classes up to which every epoch's confusion matrix is kept (beyond: the latest only)
STOPPED_BY_YOU = "stopped by you"   # the stop reason of a Stop click, a Run's stop() or the Workbench's Stop
GROWING = ("epochs", "steps", "confusion", "per_class")   # the lists a checkpoint encodes a row at a time


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def lr_keys(row: dict) -> list[str]:
    """``lr``, ``lr_1``, ``lr_2``... of a log row, in group order."""
    return sorted((k for k in row if k == "lr" or (k.startswith("lr_") and k[3:].isdigit())),
                  key=lambda k: int(k[3:] or 0))


class _Rows:
    """A list's rows as JSON text, each row encoded once: ``json(rows)`` equals ``json.dumps(rows)``, at the cost of
    the rows appended since the last call (plus one join); another list, or a shorter one, starts afresh."""

    def __init__(self):
        self.of, self.text = None, []

    def json(self, rows: list) -> str:
        if rows is not self.of or len(rows) < len(self.text):
            self.of, self.text = rows, []
        self.text += [json.dumps(r) for r in rows[len(self.text):]]
        return "[" + ", ".join(self.text) + "]"


def record_of(state) -> "History":
    """``state.history``, the run record; a loop of one's own that made its State without one gets a fresh one."""
    if state.history is None:
        state.history = History()
    return state.history


class History(Callback):
    """The run record. Per-epoch logs (``.epochs``) and per-log-point logs (``.steps``); ``h["val_loss"]`` is a
    list per epoch.

    Epoch dicts hold ``epoch`` (1-based), ``step``, the train metrics (``loss``, ``accuracy``...), the
    validation ones with a ``val_`` prefix and ``lr`` (``lr_1``... for further param groups).

    What validation saw, filled at each validation's end (before ``on_epoch_end``), for classification:
    ``confusion`` (one K x K matrix per epoch, rows true class, columns predicted; with more than 100 classes the
    latest only), ``per_class`` (per epoch: ``{"precision", "recall", "f1": [K floats], "support": [K ints]}``),
    ``top_losses`` (the latest validation's worst samples, worst first: ``{"index", "loss", "true", "pred"}``;
    ``index`` into the validation set) and ``class_names`` (None when the data has none); for regression
    ``residuals`` (``{"true": [...], "pred": [...]}``, the latest validation, at most 2000 points);
    ``validations`` counts them.

    And: ``lr_rows`` (``[step, [LR of each group]]`` at the start and at every log point), ``lr_scales``
    (``[step, scale]``: the LR slider's or ``Run.scale_lr``'s factor over the planned LR from that step on),
    ``lr_plan`` (the planned LR per group and step, when the run has a spec; None else), ``notes`` (the doctor's
    and the NaN guard's warnings, in order), ``layer_names`` / ``act_names`` / ``layer_rows`` / ``act_rows``
    (nbtrain.sinks.layerstats), ``status`` (running, then finished, stopped, interrupted, nan or error),
    ``stop_reason``, ``monitor`` and ``mode`` (what "best" means for this run) and ``best()``.
    """

    def __init__(self, epochs=None, steps=None, stop_reason: str = ""):
        self.epochs: list[dict] = list(epochs or [])
        self.steps: list[dict] = list(steps or [])
        self.stop_reason = stop_reason
        self.status = ""                # running, then finished, stopped, interrupted, nan or error
        self.run_name = ""              # the run's folder name under logdir and checkpoint_dir
        self.start_step = 0             # the step this fit() started at (a resumed run's: where it went on)
        self.interrupted = False
        self.final: dict = {}           # metrics of the final model when it differs from the last epoch's (SWA)
        self.confusion: list = []
        self.per_class: list = []
        self.top_losses: list = []
        self.class_names: list | None = None
        self.residuals: dict | None = None
        self.validations = 0            # validations recorded (readers keep a cursor on it)
        self.val_loader = None          # the run's validation loader (nb.top_losses draws the samples from it)
        self.lr_rows: list = [[s.get("step", 0), [s[k] for k in lr_keys(s)]] for s in self.steps if "lr" in s]
        self.lr_scales: list = []       # [step, scale over the planned LR from that step on]
        self._plan, self._plan_of = None, None
        self.notes: list[str] = []
        self.notes_shown = False        # a display of this run shows the notes (so no warning is printed too)
        self.layer_names: list[str] = []
        self.act_names: list[str] = []
        self.layer_rows: list[dict] = []
        self.act_rows: list[dict] = []
        self.monitor, self.mode = "val_loss", "min"
        self._best: tuple | None = None
        self._rows: dict = {}           # the growing lists' rows as JSON text, each encoded once (state_dict)

    # -- what producers append (through the State: state.history) ----------------------------------------
    def watch(self, monitor: str, mode: str = "auto") -> None:
        """What "best" means for this run: the key and its direction ("min", "max", or "auto": the metric's own)."""
        self.monitor, self.mode = monitor, monitor_mode(monitor, mode)
        self._best = self._scan(monitor, self.mode)

    def note(self, msg: str, category=UserWarning) -> None:
        """Keep a warning for the displays; print it as a warning too unless a display of this run shows notes."""
        self.notes.append(msg)
        if not self.notes_shown:
            warnings.warn(msg, category, stacklevel=3)

    def plan_lr(self, make) -> None:
        """How to draw the planned LR (``make()`` -> ``plan[group][step]``): the loop gives it at the start, the
        first display that reads ``lr_plan`` pays for it (a run without one never does)."""
        self._plan, self._plan_of = None, make

    @property
    def lr_plan(self) -> list | None:
        """The planned LR per group and step, or None (a run without a spec, or a plan that cannot be drawn)."""
        if self._plan is None and self._plan_of is not None:
            make, self._plan_of = self._plan_of, None
            try:
                self._plan = make()
            except Exception:  # an error in the plan's preview: no plan drawn is better than no display
                self._plan = None
        return self._plan

    @lr_plan.setter
    def lr_plan(self, plan) -> None:
        self._plan, self._plan_of = plan, None

    @property
    def lr_scale(self) -> float:
        """The LR's current factor over the planned one (1.0 until the slider or ``Run.scale_lr`` moves it)."""
        return self.lr_scales[-1][1] if self.lr_scales else 1.0

    def lr_scaled(self, step: int, scale: float) -> None:
        self.lr_scales.append([step, float(scale)])

    def record_lrs(self, step: int, lrs: list) -> None:
        self.lr_rows.append([step, [float(v) for v in lrs]])

    def record_layers(self, row: dict | None = None, acts: dict | None = None) -> None:
        """A log point's per-layer gradient norms and update ratios, or an epoch's activation statistics."""
        if row is not None:
            self.layer_rows.append(row)
        if acts is not None:
            self.act_rows.append(acts)

    def drop_steps_after(self, step: int) -> None:
        """Forget the log points after ``step`` (a run resumed mid-epoch logs that window again, whole)."""
        self.steps = [s for s in self.steps if s.get("step", 0) <= step]
        self.lr_rows = [r for r in self.lr_rows if r[0] <= step]

    def record_validation(self, collected: dict) -> None:
        """Keep what a validation collected on the device (nbtrain.train.valstats.ValStats.read)."""
        if "confusion" in collected:
            cm = collected["confusion"]
            if len(cm) > KEEP_EVERY_MATRIX:       # the latest only
                self.confusion = []
            self.confusion.append(cm)
            self.per_class.append(per_class(cm))
            self.top_losses = list(collected.get("top_losses", []))
            self.class_names = collected.get("class_names") or self.class_names
        if "residuals" in collected:
            self.residuals = collected["residuals"]
        self.validations += 1

    # -- as the loop's first sink ------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        self.run_name, self.start_step = state.run_name, state.step
        self.val_loader = state.val_loader
        self.status, self.interrupted = "running", False
        opt = state.optimizer
        if opt is not None:
            self.record_lrs(state.step, [g["lr"] for g in opt.param_groups])

    def on_log(self, state, logs: dict) -> None:
        self.steps.append(dict(logs))
        if "lr" in logs:
            self.record_lrs(logs.get("step", state.step), [logs[k] for k in lr_keys(logs)])

    def on_epoch_end(self, state, logs: dict) -> None:
        self.epochs.append(dict(logs))
        v = logs.get(self.monitor)
        if _number(v) and (self._best is None or improved(v, self._best[1], self.mode)):
            self._best = (self.monitor, v, logs.get("epoch", len(self.epochs)))

    def on_interrupt(self, state, exc: BaseException) -> None:
        self.interrupted = isinstance(exc, KeyboardInterrupt)
        self.status = "interrupted" if self.interrupted else "error"
        self.stop_reason = state.stop_reason

    def on_abort(self, state) -> None:
        """A third signal: the run stopped at once (a run that had finished and been told so stays finished)."""
        if self.status in ("", "running", "interrupted"):
            self.status, self.interrupted, self.stop_reason = "interrupted", True, state.stop_reason

    def on_fit_end(self, state) -> None:
        self.stop_reason = state.stop_reason
        if self.status in ("", "running"):
            self.status = ("nan" if state.nonfinite_step is not None else
                           "stopped" if state.should_stop else "finished")

    # -- reading ------------------------------------------------------------------------------------------
    def best(self, key: str | None = None, mode: str | None = None):
        """``(key, best value, its 1-based epoch)`` over the epochs so far, or None: by default the run's monitor
        and mode (kept as the epochs come); any other key's by its catalog direction (``mode`` "min" or "max"
        overrides it)."""
        mode = None if mode == "auto" else mode
        if key is None or (key == self.monitor and mode in (None, self.mode)):
            return self._best
        return self._scan(key, mode or metric_mode(key))

    def _scan(self, key: str, mode: str):
        top = None
        for i, e in enumerate(self.epochs):
            v = e.get(key)
            if _number(v) and (top is None or improved(v, top[1], mode)):
                top = (key, v, e.get("epoch", i + 1))
        return top

    def bests(self) -> dict:
        """``{metric: best value}`` over the epochs for every logged metric, each by its catalog direction."""
        keys = [k for k in self.keys() if k not in ("epoch", "step") and not k.startswith("lr")]
        return {k: top[1] for k in keys if (top := self._scan(k, metric_mode(k))) is not None}

    def __getitem__(self, key: str) -> list:
        if not any(key in e for e in self.epochs):
            known = sorted({k for e in self.epochs for k in e})
            raise KeyError(f"{key!r} is not in the history (logged: {', '.join(known) or 'nothing yet'})")
        return [e.get(key) for e in self.epochs]

    def __contains__(self, key: str) -> bool:
        return any(key in e for e in self.epochs)

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        return sorted({k for e in self.epochs for k in e})

    def last(self, key: str, default=None):
        return next((e[key] for e in reversed(self.epochs) if key in e), default)

    def confused_pairs(self, k: int = 5, names: bool = False) -> list[tuple]:
        """The ``k`` most frequent mistakes of the latest validation, most first: ``[(true, pred, count), ...]``
        (class indices, or class names with ``names=True`` when the data has them)."""
        if not self.confusion:
            return []
        cm = self.confusion[-1]
        pairs = sorted(((cm[t][p], t, p) for t in range(len(cm)) for p in range(len(cm)) if t != p and cm[t][p]),
                       key=lambda c: (-c[0], c[1], c[2]))[:k]
        label = (lambda i: self.class_names[i]) if names and self.class_names else (lambda i: i)
        return [(label(t), label(p), n) for n, t, p in pairs]

    # -- saving and loading -------------------------------------------------------------------------------
    def insight_dict(self, copies: bool = True) -> dict:
        """The validation insight fields as plain JSON-safe data (what to_dict adds to the logs); ``copies=False``
        hands out the History's own lists, for a caller that only encodes them at once."""
        d = {"confusion": self.confusion, "per_class": self.per_class, "top_losses": self.top_losses,
             "class_names": self.class_names, "residuals": self.residuals}
        return copy.deepcopy(d) if copies else d

    def _load_insight(self, d: dict) -> None:
        self.confusion, self.per_class = list(d.get("confusion") or []), list(d.get("per_class") or [])
        self.top_losses, self.class_names = list(d.get("top_losses") or []), d.get("class_names")
        self.residuals = d.get("residuals")
        self.validations = len(self.per_class) if self.per_class else int(self.residuals is not None)

    def to_dict(self, copies: bool = True) -> dict:
        d = {"epochs": self.epochs, "steps": self.steps, "stop_reason": self.stop_reason, "status": self.status,
             "final": self.final, "notes": self.notes, "lr_scales": self.lr_scales, "monitor": self.monitor,
             "mode": self.mode, **self.insight_dict(copies=False)}
        return copy.deepcopy(d) if copies else d

    def state_dict(self):
        """What a checkpoint stores: ``to_dict()`` as JSON text (what ``json.dumps`` gives, keys in another order),
        which torch.save writes as one string (pickling the rows object by object, and copying them first, cost
        10-20x more); the dict itself when a user's callback logged a value JSON cannot hold.

        The growing lists (log points, epoch rows, confusion matrices, per-class rows) are encoded a row at a time,
        each row once, when a checkpoint first holds it (``_Rows``): a checkpoint late in a long run joins the
        strings kept so far instead of encoding every row again (with log_every=1, 15,000 log points took tens of
        ms to encode at every epoch end, growing with the run). Rows are appended, never edited, by everything in nbtrain; a list
        replaced (a resume, ``drop_steps_after``) is encoded afresh."""
        d = self.to_dict(copies=False)
        try:
            rows = {k: self._rows.setdefault(k, _Rows()).json(d.pop(k)) for k in GROWING}
            head = ", ".join(f"{json.dumps(k)}: {v}" for k, v in rows.items())
            return "{" + head + ", " + json.dumps(d)[1:]
        except (TypeError, ValueError):
            self._rows.clear()
            return copy.deepcopy(self.to_dict(copies=False))

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        h = cls()
        h.monitor, h.mode = d.get("monitor", h.monitor), d.get("mode", h.mode)
        h.load_state_dict(d)
        h.status = d.get("status", "")
        return h

    def load_state_dict(self, d) -> None:
        d = json.loads(d) if isinstance(d, str) else d
        self.epochs, self.steps = list(d.get("epochs", [])), list(d.get("steps", []))
        self.stop_reason = d.get("stop_reason", "")
        self.final = dict(d.get("final", {}))
        self.notes, self.lr_scales = list(d.get("notes", [])), [list(s) for s in d.get("lr_scales", [])]
        self.lr_rows = [[s.get("step", 0), [s[k] for k in lr_keys(s)]] for s in self.steps if "lr" in s]
        self._load_insight(d)
        self.watch(self.monitor, self.mode)            # a resumed run's best, by the monitor it was given now

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        return f"History({len(self.epochs)} epochs{': ' + shown if shown else ''})"
