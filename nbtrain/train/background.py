"""Background runs: ``fit(..., background=True)`` trains in a thread and returns a ``Run`` handle at once.

The Run's ``stop()``, ``pause()``, ``resume()`` and ``scale_lr()`` drive a ``nbtrain.sinks.control.Control`` put
last among the run's callbacks; in a notebook the dashboard is made and shown in the calling cell and its buttons
drive the same Control.
"""
from __future__ import annotations

import threading

from ..sinks.control import Control
from ..sinks.dashboard import Dashboard, wants_widgets
from ..sinks.dashboard.export import default_path, export_html


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
        self._thread = threading.Thread(target=self._main, name="nbtrain-fit", daemon=True)

    def _main(self) -> None:
        try:
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
    return Run(kw, fit, control, shown).launch()
