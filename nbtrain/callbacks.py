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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class State:
    """What the loop shares with callbacks. Callbacks read it; to stop, call ``request_stop``."""
    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    loss_fn: Any = None
    train_loader: Any = None
    val_loader: Any = None
    spec: Any = None                 # the TrainSpec when fit() was given one
    device: Any = None
    epoch: int = 0                   # 0-based index of the current epoch
    epochs: int = 0
    step: int = 0                    # global optimizer steps done so far
    batch: int = 0                   # index of the batch within the epoch
    steps_per_epoch: int = 0
    history: Any = None
    logs: dict = field(default_factory=dict)   # the latest logs
    should_stop: bool = False
    stop_reason: str = ""
    extra: dict = field(default_factory=dict)  # room for sinks to share things (probe batch, lr plan)

    def request_stop(self, reason: str = "stopped") -> None:
        self.should_stop = True
        self.stop_reason = self.stop_reason or reason


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


class CallbackList(Callback):
    """Dispatches each event to every callback, in order."""

    def __init__(self, callbacks=()):
        self.callbacks = [c for c in callbacks if c is not None]

    def __getattribute__(self, name: str):
        if name.startswith("on_"):
            cbs = object.__getattribute__(self, "callbacks")
            return lambda *a: [getattr(c, name)(*a) for c in cbs] and None
        return object.__getattribute__(self, name)
