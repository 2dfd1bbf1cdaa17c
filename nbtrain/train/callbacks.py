"""Callbacks: the loop fires events, callbacks own the side effects.

Every hook does nothing by default; a callback overrides only what it needs. Only the State and
plain ``logs`` dicts pass between the loop and its callbacks (validation keys carry ``val_``).

Event order for one run::

    on_fit_start
      on_epoch_start
        on_batch_start, on_batch_end            (every step; logs only at log points, else {})
        on_log                                  (every ``log_every`` steps: logs read from the device)
      on_validation_end                         (val_ logs)
      on_epoch_end                              (the epoch's train and val_ logs)
    on_interrupt                                (KeyboardInterrupt or an error; then on_fit_end)
    on_fit_end
    on_abort                                    (instead of, or during, the end: a third signal; end the record only)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..build.optim import scale_groups, scale_scheduler
from . import resume


@dataclass
class State:
    """What the loop shares with callbacks: typed fields, read by sinks; to stop, call ``request_stop``.

    The loop writes every field; sinks only read them (and call ``request_stop``, ``scale_lr``, ``note`` and
    ``snapshot``); what a run produces goes to the record, ``history``.
    ``extra`` is left for user callbacks to share things among themselves; nbtrain never reads or writes it.
    """
    model: Any = None
    optimizer: Any = None
    scheduler: Any = None            # the torch LR scheduler being stepped (None for a constant LR)
    schedule: Any = None             # nbtrain.build.optim.Schedule: decides per step / per epoch, plateau, SWA
    loss_fn: Any = None
    train_loader: Any = None
    val_loader: Any = None
    spec: Any = None                 # the TrainSpec when fit() was given one
    loop_spec: Any = None            # the LoopSpec this run uses (epochs, log_every, monitor, ...)
    device: Any = None
    epoch: int = 0                   # 0-based index of the current epoch
    epochs: int = 0
    step: int = 0                    # global optimizer steps done so far
    batch: int = 0                   # index of the batch within the epoch
    steps_per_epoch: int = 0
    epochs_done: int = 0             # epochs completed (a checkpoint resumes after them)
    batches_done: int = 0            # batches of the current epoch trained so far
    mid_epoch: bool = False          # between an epoch's first batch and its end (a stop here is partial)
    history: Any = None              # the run record (nbtrain.train.history.History): producers append to it, displays read it
    logs: dict = field(default_factory=dict)   # the latest logs
    should_stop: bool = False
    stop_reason: str = ""
    scaler: Any = None               # torch.amp.GradScaler with amp='fp16', else None
    swa_model: Any = None            # torch.optim.swa_utils.AveragedModel with SWA, else None
    probe: Any = None                # a fixed (x, y) batch for feature maps and the graph, or None
    generator: Any = None            # the torch.Generator deciding the batch order (checkpointed)
    rank: int = 0
    world_size: int = 1
    run_name: str = ""
    run_dir: Path | None = None      # logdir / run_name (TensorBoard), None when no logdir
    checkpoint_dir: Path | None = None   # checkpoint_dir / run_name, None when no checkpoints
    callbacks: list = field(default_factory=list)   # every callback of the run, in dispatch order
    final: dict = field(default_factory=dict)       # SWA's final logs (swa_epochs, swa_val_*), else {}
    nonfinite_step: int | None = None    # the first step whose loss was not finite
    extra: dict = field(default_factory=dict)       # for user callbacks only
    _snapshot: Callable[[], dict] | None = field(default=None, repr=False)

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and shows things (rank 0, or the only one)."""
        return self.rank == 0

    @property
    def notes(self) -> list:
        """The run's notes (the doctor's and the NaN guard's warnings), kept in the record."""
        return self.history.notes if self.history is not None else []

    def note(self, msg: str, category=UserWarning) -> None:
        """Add a note to the run record; it is printed as a warning unless a display of the run shows notes."""
        if self.history is not None:
            self.history.note(msg, category)
        else:
            warnings.warn(msg, category, stacklevel=2)

    def request_stop(self, reason: str = "stopped") -> None:
        self.should_stop = True
        self.stop_reason = self.stop_reason or reason
        if self.history is not None:
            self.history.stop_reason = self.stop_reason

    def scale_lr(self, factor: float) -> None:
        """Multiply every group's LR, and the LRs the schedule computes from, by ``factor``; the record keeps the
        LR's new factor over the planned one from this step on (``history.lr_scales``)."""
        if self.schedule is not None:
            self.schedule.scale_lr(factor)
        else:
            if self.optimizer is not None:
                scale_groups(self.optimizer, factor)
            if self.scheduler is not None:
                scale_scheduler(self.scheduler, factor)
        if self.history is not None:
            self.history.lr_scaled(self.step, self.history.lr_scale * factor)

    def set_lr_scale(self, scale: float) -> None:
        """Set the LR to ``scale`` times the planned one (the LR slider, ``Run.scale_lr``); 1.0 is the plan."""
        now = self.history.lr_scale if self.history is not None else 1.0
        if scale != now:
            self.scale_lr(scale / now)

    def snapshot(self) -> dict:
        """Everything a checkpoint holds (nbtrain.train.resume.state_dict): the loop's state now, with what a stop
        mid-epoch needs to go on exactly (the running loop provides that part)."""
        return self._snapshot() if self._snapshot is not None else resume.state_dict(self)


def due_within_budget(state: State, last_at: float | None, now: float, budget: float, cost: float) -> bool:
    """Whether epoch-end work that costs ``cost`` seconds is due at this epoch end: at the first (``last_at`` None),
    the last and one that stops the run always; between them when the time since ``last_at`` pays for it within
    ``budget``, a fraction. TensorBoard's histograms and images and the layer statistics' probe pass keep to it."""
    if last_at is None or state.should_stop or state.epoch + 1 >= state.epochs:
        return True
    return (now - last_at) * budget >= cost


class Callback:
    """Base class: every hook is a no-op."""

    def on_fit_start(self, state: State) -> None: ...
    def on_epoch_start(self, state: State) -> None: ...
    def on_batch_start(self, state: State) -> None: ...
    def on_batch_end(self, state: State, logs: dict) -> None: ...
    def on_log(self, state: State, logs: dict) -> None: ...
    def on_validation_end(self, state: State, logs: dict) -> None: ...
    def on_epoch_end(self, state: State, logs: dict) -> None: ...
    def on_interrupt(self, state: State, exc: BaseException) -> None: ...
    def on_fit_end(self, state: State) -> None: ...
    def on_abort(self, state: State) -> None: ...


def _overrides(c, name: str) -> bool:
    """Whether ``c`` does something on ``name``: its own method (or one set on the instance), not Callback's no-op."""
    return name in getattr(c, "__dict__", {}) or getattr(type(c), name, None) is not getattr(Callback, name, None)


class CallbackList(Callback):
    """Dispatches each event to every callback, in order; a callback whose hook is Callback's no-op is not called
    (a fit with ten sinks makes a few calls a step, not twenty)."""

    def __init__(self, callbacks=()):
        self.callbacks = [c for c in callbacks if c is not None]
        self._hooks: dict = {}

    def _event(self, name: str, *args) -> None:
        hooks = self._hooks.get(name)
        if hooks is None:
            hooks = self._hooks[name] = [c for c in self.callbacks if _overrides(c, name)]
        for c in hooks:
            getattr(c, name)(*args)

    def __getattr__(self, name: str):
        if name.startswith("on_"):              # an event Callback does not define: every callback that has it
            return lambda *a: self._event(name, *a)
        raise AttributeError(name)


def _dispatcher(name: str):
    def event(self, *args) -> None:
        self._event(name, *args)
    event.__name__ = name
    return event


for _name in [n for n in vars(Callback) if n.startswith("on_")]:
    setattr(CallbackList, _name, _dispatcher(_name))
