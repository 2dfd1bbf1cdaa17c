"""Background runs: ``fit(..., background=True)`` trains in a thread and returns a ``Run`` handle at once.

Stop and pause act between batches: ``Control`` is a callback whose ``on_batch_end`` asks the loop to stop
(``state.request_stop``; the loop checks ``state.should_stop`` right after) or blocks while paused. A Run puts
its Control after every other callback, so a pause or stop asked during a batch's callbacks acts at that
batch's end, and a stop while paused runs no further batch. The
dashboard's buttons drive the same ``Control``.
"""
from __future__ import annotations

import threading
import time

from .callbacks import Callback


class Control(Callback):
    """Stop / pause / resume a running fit from another thread (or a widget's click handler)."""

    def __init__(self, clock=time.monotonic):
        self.state = None
        self.stop_requested = False
        self.paused_at: int | None = None          # the step at which the loop last blocked
        self.clock = clock
        self._paused_total, self._paused_since = 0.0, None
        self._running = threading.Event()
        self._running.set()
        self.blocked = threading.Event()           # set while the loop is blocked in a pause

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        self.stop_requested = True
        if self.state is not None:
            self.state.request_stop("stop()")
        self._running.set()                        # a paused loop wakes up to stop

    def pause(self) -> None:
        if not self.stop_requested:
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def paused_seconds(self) -> float:
        """How long the loop has been blocked in pauses (the one going on included)."""
        since = self._paused_since
        return self._paused_total + (self.clock() - since if since is not None else 0.0)

    def on_fit_start(self, state) -> None:
        self.state = state
        self._paused_total, self._paused_since = 0.0, None
        if self.stop_requested:
            state.request_stop("stop()")

    def on_batch_end(self, state, logs) -> None:
        """After a batch: block while paused, then pass a stop request on to the loop (which checks it next)."""
        if not self._running.is_set():
            self.paused_at = state.step
            self._paused_since = self.clock()
            self.blocked.set()
            self._running.wait()
            self.blocked.clear()
            self._paused_total += self.clock() - self._paused_since
            self._paused_since = None
        if self.stop_requested:
            state.request_stop("stop()")


class Run:
    """A fit running in a background thread: ``stop()``, ``pause()``, ``resume()``, ``wait()``, ``history``, ``model``."""

    def __init__(self, fit_kwargs: dict, control: Control | None = None, fit=None):
        self.control = control or Control()
        self._fit = fit
        self.result = None
        self.error: BaseException | None = None
        self._kwargs = fit_kwargs
        self._thread = threading.Thread(target=self._main, name="nbtrain-fit", daemon=True)

    def _main(self) -> None:
        try:
            if self._fit is None:
                from .loop import fit
                self._fit = fit
            self.result = self._fit(**self._kwargs)
        except BaseException as e:  # noqa: BLE001 - kept and raised again by wait()
            self.error = e

    @classmethod
    def start(cls, **fit_kwargs) -> "Run":
        """``Run.start(**fit_kwargs)`` is ``start_background(fit_kwargs)``: what fit(background=True) calls."""
        return start_background(fit_kwargs)

    def launch(self) -> "Run":
        """Start this Run's thread (once) and return the Run."""
        self._thread.start()
        return self

    # -- control ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop after the batch in progress; the loop ends the epoch's bookkeeping and callbacks as usual."""
        self.control.stop()

    def pause(self) -> None:
        """Block the loop after the batch in progress, until ``resume()`` (or ``stop()``)."""
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def wait(self, timeout: float | None = None):
        """Wait for the run to end and return its History (raising the run's error, if it failed)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if self.error is not None:
            raise self.error
        return self.result

    # -- state -----------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return not self._thread.is_alive() and self._thread.ident is not None

    @property
    def paused(self) -> bool:
        return self.control.paused

    @property
    def state(self):
        return self.control.state

    @property
    def history(self):
        """The History so far (the loop's live one while running, the returned one after)."""
        if self.result is not None:
            return self.result
        return getattr(self.state, "history", None)

    @property
    def model(self):
        return getattr(self.state, "model", None) or self._kwargs.get("model")

    def status(self) -> str:
        st = self.state
        where = f"epoch {st.epoch + 1}/{st.epochs}, step {st.step}" if st is not None else "starting"
        what = ("failed: " + repr(self.error) if self.error else "done" if self.done
                else "paused" if self.paused else "running")
        return f"Run({what}, {where})"

    __repr__ = status


def start_background(fit_kwargs: dict, fit=None) -> Run:
    """What ``fit(..., background=True)`` calls: start the fit in a thread and return its Run at once.

    ``fit_kwargs`` are fit's own arguments (``background`` is dropped); ``fit`` replaces nbtrain's in tests. In a notebook the dashboard is made
    and shown here, in the calling cell, and shares the Run's Control so its buttons and the Run agree.
    """
    kw = dict(fit_kwargs)
    kw.pop("background", None)
    callbacks = list(kw.get("callbacks") or ())
    control = Control()
    dash = kw.get("dashboard", "auto")
    if dash == "auto" or dash is True:
        from .sinks.dashboard import Dashboard, wants_widgets
        dash = Dashboard() if wants_widgets() else None
    if hasattr(dash, "show"):                       # our Dashboard: shown here, its buttons drive the Run's Control
        dash.control, dash.external_control = control, True
        dash.show()
        kw["dashboard"] = dash
    elif dash is None:
        kw.pop("dashboard", None)
    callbacks.append(control)                       # last: it blocks (pause) after every other callback
    kw["callbacks"] = callbacks
    return Run(kw, control, fit).launch()
