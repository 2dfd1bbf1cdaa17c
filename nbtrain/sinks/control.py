"""Run control: Stop, Pause and the LR scale from another thread (a Run handle or a dashboard's buttons).

Stop and pause act between batches: ``Control`` is a callback whose ``on_batch_end`` asks the loop to stop
(``state.request_stop``; the loop checks ``state.should_stop`` right after) or blocks while paused. It is put after
every other callback, so a pause or stop asked during a batch's callbacks acts at that batch's end, and a stop
while paused runs no further batch. An LR scale asked with ``scale_lr`` (the dashboard's slider, ``Run.scale_lr``)
is applied at the next batch end, in the training thread (``state.set_lr_scale``: the run record keeps it).
"""
from __future__ import annotations

import math
import threading
import time

from ..errors import NbtrainError
from ..train.callbacks import Callback
from ..train.history import STOPPED_BY_YOU

PAUSE_POLL = 0.1


class Control(Callback):
    """Stop / pause / resume a running fit from another thread (or a widget's click handler)."""

    def __init__(self, clock=time.monotonic):
        self.state = None
        self.stop_requested = False
        self.paused_at: int | None = None          # the step at which the loop last blocked
        self.clock = clock
        self._paused_total, self._paused_since = 0.0, None
        self._started: float | None = None         # the clock at the fit's start
        self._running = threading.Event()
        self._running.set()
        self.blocked = threading.Event()           # set while the loop is blocked in a pause
        self.while_paused = None                   # called every PAUSE_POLL s while blocked (a dashboard's inbox)
        self.pending_scale: float | None = None    # an LR scale asked, applied at the next batch end

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        self.stop_requested = True
        if self.state is not None:
            self.state.request_stop(STOPPED_BY_YOU)
        self._running.set()                        # a paused loop wakes up to stop

    def pause(self) -> None:
        if not self.stop_requested:
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def scale_lr(self, scale: float) -> None:
        """Train from the next step on with ``scale`` times the planned LR, in every param group and for the
        schedule ahead (1.0: the plan again); the loop applies it at the next batch end."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise NbtrainError(f"the LR scale must be a positive number, got {scale!r}", "scale_lr(scale)",
                               "e.g. 0.5 halves the planned LR, 1.0 goes back to it")
        self.pending_scale = float(scale)

    def paused_seconds(self) -> float:
        """How long the loop has been blocked in pauses (the one going on included)."""
        since = self._paused_since
        return self._paused_total + (self.clock() - since if since is not None else 0.0)

    def elapsed(self, pauses: bool = False) -> float:
        """Seconds since the fit started (0 before), the time blocked in pauses left out unless ``pauses``."""
        if self._started is None:
            return 0.0
        return self.clock() - self._started - (0.0 if pauses else self.paused_seconds())

    def on_fit_start(self, state) -> None:
        self.state, self._started = state, self.clock()
        self._paused_total, self._paused_since = 0.0, None
        if self.stop_requested:
            state.request_stop(STOPPED_BY_YOU)

    def on_batch_end(self, state, logs) -> None:
        """After a batch: apply an LR scale asked, block while paused, then pass a stop request on to the loop."""
        scale, self.pending_scale = self.pending_scale, None
        if scale is not None and state.optimizer is not None:
            state.set_lr_scale(scale)
        if not self._running.is_set():
            self.paused_at = state.step
            self._paused_since = self.clock()
            self.blocked.set()
            while not self._running.wait(PAUSE_POLL if self.while_paused else None):
                self.while_paused()                # a foreground run's own clicks: Resume and Stop reach it
            self.blocked.clear()
            self._paused_total += self.clock() - self._paused_since
            self._paused_since = None
        if self.stop_requested:
            state.request_stop(STOPPED_BY_YOU)
