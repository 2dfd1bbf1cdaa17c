"""Rank 0's run, replayed in the kernel: the events of nbtrain.train.relay played to a run record and the displays.

A ``Mirror`` keeps a State whose record (``state.history``, a History fed as the loop feeds it: log points, epoch rows,
LRs, the doctor's notes, the planned LR drawn from the spec, the stop reason) is what every display reads, and calls
the displays' hooks in the loop's order: ``on_fit_start``, ``on_epoch_start`` before an epoch's first event,
``on_log`` and ``on_batch_end`` at each log point (the Dashboard sends an update when one is due), ``on_epoch_end``,
``on_fit_end``; between events ``on_batch_end`` with no logs, so a display keeps taking clicks. The displays' Stop,
Pause and LR slider reach the workers through a ``RemoteControl`` that writes the workers' control file (a Control
of the kernel's own would block the kernel, not the workers).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import torch

from ..build.optim import lr_curve
from ..spec.trainspec import TrainSpec
from .callbacks import State
from .history import History


class RemoteControl:
    """What a Dashboard's buttons call (stop, pause, resume, scale_lr, paused, paused_seconds), passed on to the
    workers through ``ask(**control)`` (the Workers' control file)."""

    def __init__(self, ask, clock=time.monotonic):
        self.ask, self.clock = ask, clock
        self.stop_requested = False
        self.state = None
        self.while_paused = None                 # the Control's attribute; a display's inbox is polled by the Mirror
        self._paused_since, self._paused_total = None, 0.0
        self._started: float | None = None       # the clock when rank 0's run started

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def on_fit_start(self, state) -> None:
        self.state, self._started = state, self.clock()

    def elapsed(self, pauses: bool = False) -> float:
        """Seconds since rank 0's run started (0 before), the time paused left out unless ``pauses``."""
        if self._started is None:
            return 0.0
        return self.clock() - self._started - (0.0 if pauses else self.paused_seconds())

    def stop(self) -> None:
        self.stop_requested = True
        self.resume()
        self.ask(stop=True, pause=False)

    def pause(self) -> None:
        if not self.stop_requested and not self.paused:
            self._paused_since = self.clock()
            self.ask(pause=True)

    def resume(self) -> None:
        if self.paused:
            self._paused_total += self.clock() - self._paused_since
            self._paused_since = None
            self.ask(pause=False)

    def paused_seconds(self) -> float:
        since = self._paused_since
        return self._paused_total + (self.clock() - since if since is not None else 0.0)

    def scale_lr(self, scale: float) -> None:
        """Every worker trains with ``scale`` times the planned LR from its next log point on."""
        self.ask(lr_scale=float(scale))
        if self.state is not None:                   # the record: the planned LR drawn scaled from this step
            self.state.history.lr_scaled(self.state.step, float(scale))


class Mirror:
    """Plays rank 0's events to the run record and to ``displays`` in the loop's order."""

    def __init__(self, spec, displays, control: RemoteControl):
        self.displays, self.control = list(displays), control
        self.state = State(spec=TrainSpec.from_dict(spec.to_dict()), loop_spec=spec.loop, device=torch.device("cpu"),
                           history=History())
        self.sinks = [self.state.history, *self.displays]
        self.started = self.ended = False
        self._epoch = None                           # the epoch whose on_epoch_start was played

    def _fire(self, hook: str, *args, sinks=None) -> None:
        for s in self.sinks if sinks is None else sinks:
            getattr(s, hook)(self.state, *args)

    def play(self, ev: dict) -> None:
        st, kind = self.state, ev["e"]
        st.step, st.epoch, st.batch = ev.get("step", st.step), ev.get("epoch", st.epoch), ev.get("batch", st.batch)
        st.extra["t"] = ev.get("t")                  # when rank 0 sent it (wall clock)
        if ev.get("lrs"):
            st.optimizer = SimpleNamespace(param_groups=[{"lr": lr} for lr in ev["lrs"]])
        st.history.notes.extend(ev.get("notes", []))
        if kind in ("log", "epoch") and st.epoch != self._epoch:     # a new epoch's first event: its start
            self._epoch = st.epoch
            self._fire("on_epoch_start")
        if kind == "start":
            self._start(ev)
        elif kind == "log":
            st.logs = ev["logs"]
            self._fire("on_log", ev["logs"])
            self._fire("on_batch_end", ev["logs"])
        elif kind == "epoch":
            st.logs, st.epochs_done = ev["logs"], st.epoch + 1
            self._fire("on_epoch_end", ev["logs"])
        elif kind == "end":
            if ev.get("stop_reason"):
                st.request_stop(ev["stop_reason"])
            self.end()

    def _start(self, ev: dict) -> None:
        st, h = self.state, self.state.history
        st.epochs, st.steps_per_epoch, st.run_name = ev["epochs"], ev["steps_per_epoch"], ev.get("run_name", "")
        st.world_size = ev.get("world_size", 1)
        bs = ev.get("batch_size")        # samples per step of the whole run: every rank's batch
        st.train_loader = SimpleNamespace(batch_size=bs * st.world_size) if bs else None
        h.watch(ev.get("monitor", "val_loss"), ev.get("mode", "min"))
        spec, epochs, spe = st.spec, st.epochs, st.steps_per_epoch
        h.plan_lr(lambda: lr_curve(spec.optim, spec.sched, epochs, spe))
        h.notes_shown = any(getattr(d, "shows_notes", False) for d in self.displays)
        self.control.on_fit_start(st)
        self.started = True
        self._fire("on_fit_start")

    def tick(self) -> None:
        """Between events: the displays' ``on_batch_end`` with no logs (a due update, clicks waiting in a queue)."""
        if self.started and not self.ended:
            self._fire("on_batch_end", {}, sinks=self.displays)

    def end(self, reason: str = "") -> None:
        """The run is over (its end event, or the workers ended without one): the displays' last word."""
        if self.ended or not self.started:
            return
        if reason:
            self.state.request_stop(reason)
        self.ended = True
        self._fire("on_fit_end")
