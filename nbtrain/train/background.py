"""Background runs: ``fit(..., background=True)`` trains in a thread and returns a ``Run`` handle at once.

The Run's ``stop()``, ``pause()``, ``resume()`` and ``scale_lr()`` drive a ``nbtrain.sinks.control.Control`` put
last among the run's callbacks; in a notebook the dashboard is made and shown in the calling cell and its buttons
drive the same Control.

Background fits of one process train one at a time, in the order they were started (``TURNS``): they would share
torch's global random generator (shuffling, dropout, augmentation), so two at once would each give other numbers
than alone. A fit that has to wait says so. A fit of a run that is training or waiting here (the same run_name and
folders) is refused at once, as the run-folder locks refuse it between processes (nbtrain.train.rundirs).
Fits on worker processes (``processes=N``, Ray) share nothing here and start at once.
"""
from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from contextlib import nullcontext as _nothing
from pathlib import Path
from types import SimpleNamespace

from ..errors import NbtrainError
from ..sinks.control import Control
from ..sinks.dashboard import Dashboard, wants_widgets
from ..sinks.dashboard.export import default_path, export_html
from ..spec.trainspec import LoopSpec, TrainSpec
from .rundirs import run_folders, same_folder, training_now


class Turns:
    """The background fits of this process, in the order they were started; each trains when those before it
    have ended (``turn``)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._runs: list = []

    def enter(self, run) -> list:
        """Put ``run`` in line; the runs before it (empty: it starts at once)."""
        with self._cond:
            self._runs.append(run)
            return self._runs[:-1]

    def waiting(self, run) -> bool:
        with self._cond:
            return run in self._runs[1:]

    def live(self) -> list:
        with self._cond:
            return list(self._runs)

    @contextmanager
    def turn(self, run):
        with self._cond:
            self._cond.wait_for(lambda: self._runs[0] is run)
        try:
            yield
        finally:
            with self._cond:
                self._runs.remove(run)
                self._cond.notify_all()


TURNS = Turns()


def _folders_of(kw: dict) -> list[Path]:
    """The folders of a fit's explicitly named run (none for a timestamped one: each gets its own)."""
    spec = kw.get("spec")
    try:
        spec = TrainSpec.load(spec) if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__") else spec
    except NbtrainError:
        return []                    # fit() raises it, in the Run
    base = spec.loop if isinstance(spec, TrainSpec) else LoopSpec(logdir="", checkpoint_dir="")
    ls = {k: kw.get(k, getattr(base, k)) for k in ("run_name", "logdir", "checkpoint_dir")}
    return run_folders(SimpleNamespace(**ls), ls["run_name"]) if ls["run_name"] else []


def _check_not_live(kw: dict) -> list[Path]:
    """A second fit of a run that is training (or waiting to) in this process: the run-folder locks' error."""
    mine = _folders_of(kw)
    for run in TURNS.live():
        held = next((f for f in run.folders for g in mine if same_folder(f, g)), None)
        if held is not None:
            raise training_now(held.name, held, f"process {os.getpid()} on {socket.gethostname()}")
    return mine


class Run:
    """A fit running in a background thread: ``stop()``, ``pause()``, ``resume()``, ``scale_lr()``, ``wait()``,
    ``history``, ``model``; ``dashboard`` is the live dashboard shown for it (None where there is none)."""

    def __init__(self, fit_kwargs: dict, fit, control: Control | None = None, dashboard=None):
        self.control = control or Control()
        self.dashboard = dashboard
        self._fit = fit
        self.result = None
        self.error: BaseException | None = None
        self._kwargs = fit_kwargs
        self.queued, self.folders = False, []      # set by start_background: trains in its turn (TURNS)
        self._thread = threading.Thread(target=self._main, name="nbtrain-fit", daemon=True)

    def _main(self) -> None:
        try:
            with TURNS.turn(self) if self.queued else _nothing():
                self.result = self._fit(**self._kwargs)
        except BaseException as e:  # kept and raised again by wait()
            self.error = e

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

    def scale_lr(self, scale: float) -> None:
        """Train from the next step on with ``scale`` times the planned LR (every param group, and the schedule
        ahead); ``scale_lr(1.0)`` goes back to the plan. What the dashboard's LR slider does."""
        self.control.scale_lr(scale)

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

    def export_html(self, path=None):
        """The run's dashboard as one self-contained HTML file (curves, panels, spec, code); returns its path."""
        return export_html(self, path if path is not None else default_path(self.state))

    def status(self) -> str:
        st = self.state
        where = f"epoch {st.epoch + 1}/{st.epochs}, step {st.step}" if st is not None else "starting"
        what = ("failed: " + repr(self.error) if self.error else "done" if self.done
                else "waiting for the background fit before it" if TURNS.waiting(self)
                else "paused" if self.paused else "running")
        return f"Run({what}, {where})"

    __repr__ = status


def start_background(fit_kwargs: dict, fit) -> Run:
    """What ``fit(..., background=True)`` calls: start the fit in a thread and return its Run at once.

    ``fit_kwargs`` are fit's own arguments (``background`` is dropped); ``fit`` is nbtrain.fit (or a stand-in in tests). In a notebook the dashboard is made
    and shown here, in the calling cell, and shares the Run's Control so its buttons and the Run agree.
    """
    kw = dict(fit_kwargs)
    kw.pop("background", None)
    folders = _check_not_live(kw)
    callbacks = list(kw.get("callbacks") or ())
    control = Control()
    dash = kw.get("dashboard", "auto")
    if dash == "auto" or dash is True:
        dash = Dashboard() if wants_widgets() else None
    shown = None
    if hasattr(dash, "show"):                       # our Dashboard: shown here, its buttons drive the Run's Control
        dash.control, dash.external_control, dash.background = control, True, True
        dash.show()
        kw["dashboard"] = shown = dash
    elif dash is None:
        kw.pop("dashboard", None)
    callbacks.append(control)                       # last: it blocks (pause) after every other callback
    kw["callbacks"] = callbacks
    run = Run(kw, fit, control, shown)
    if kw.get("processes") is None and kw.get("ray") is None and kw.get("engine") in (None, "torchrun"):
        run.folders, run.queued = folders, True
        if TURNS.enter(run):
            print("nbtrain: another background fit is training in this process: this one starts when it ends "
                  "(fits in one process share torch's random generator; one at a time, each gives its own numbers)",
                  flush=True)
    return run.launch()
