"""The live dashboard: what makes fit() watchable in a notebook, at almost no cost to the kernel.

While a run is live the kernel sends numbers, not pictures: at most once per ``every`` seconds of wall clock, at
a batch end of the training thread, one small JSON message with what is new (log points, epoch rows, LRs, notes,
the status line) goes to an anywidget front end (live.js), which draws the curves (SVG), the LR of each param
group with its planned schedule, the feature maps and kernels (uint8 tiles on a canvas) and keeps the view
controls (log scale, smoothing, hover, layer pickers) to itself. What it sends it reads from the run record
(``state.history``) through its Feed; only the image tiles and the insight panel's numbers are its own, made at
epoch ends (feature maps and kernels of a fixed probe batch). With layer statistics in the record (fit() adds a
LayerStats sink), a layer panel draws each layer's gradient norm, update/weight ratio and activation statistics
over time; with what the record collects at validation, a panel shows the confusion matrix, per-class precision /
recall / F1 and the top losses (or, for a regression, predicted vs true); both travel as numbers. On CUDA a memory line sits under the status line. The
"Export HTML" link (and ``export_html(path)``) writes the dashboard as one self-contained HTML file. No
matplotlib and no PNG until the run ends; then the widget stays (interactive while the kernel lives) and the cell's
display gets one static PNG of every panel beside it, in the run's language and the front end's theme
(``LiveView.finish``, picture.py), which a saved notebook shows where there is no widget state. In a plain terminal the dashboard prints one text line
per epoch instead.

Stop, Pause and the LR slider reach a foreground run where the front end sends widget messages on a kernel
subshell (JupyterLab >= 4.4 with ipykernel >= 7; see view.py); elsewhere (Colab, VS Code, the classic Notebook,
JupyterLab with comms over subshells off) the training thread takes its widget's pending messages itself at each
update (inbox.py), so a click acts within ``every`` seconds; a background run's clicks find the kernel idle. A
background run's training thread sends nothing: the page asks, the comm handler answers (delivery.py).
"""
from __future__ import annotations

import collections
import math
import sys
import threading
import time

from ... import i18n
from ...env import in_notebook, one_cpu_thread
from ...train import features as F
from ...train.callbacks import Callback
from ...train.history import record_of
from ..control import Control
from ..memory import cuda_memory, memory_line
from . import export, feed, panels, picture, text
from .delivery import Delivery
from .feed import Feed, numeric
from .view import LiveView


def wants_widgets() -> bool:
    """A Jupyter kernel with ipywidgets and anywidget importable: the live widget; else the text lines."""
    if not in_notebook():
        return False
    try:
        import anywidget  # noqa: F401 - heavy optional import, only asked whether it is there
    except ImportError:
        return False
    return True


class Dashboard(Delivery, Callback):
    """Curves, LR per group with its planned schedule, feature maps, kernels, status, Stop/Pause, LR slider.

    every:      seconds of wall clock between two updates sent to the browser (nothing is sent per step).
    features, kernels, histograms: which image panels to show (kernels and features need a conv layer).
    smooth:     the front end's initial EMA factor for per-step curves (it has its own slider).
    probe:      an input batch (or ``(x, y)``) for the feature maps; default the loop's ``state.probe``,
                else the first validation sample.
    mode:       "auto" (widgets in a notebook, text elsewhere), "widgets" or "text".
    lang:       "en" or "zh": the charts' titles, legends, buttons and tooltips (default: the locale's).
    clock, out: injected wall clock and text stream (tests); ``view``: makes the LiveView (tests).
    """

    def __init__(self, every: float = 0.5, features: bool = True, kernels: bool = True, histograms: bool = False,
                 smooth: float = 0.6, probe=None, mode: str = "auto", clock=time.monotonic, out=None, control=None,
                 view=LiveView, lang: str | None = None):
        self.every, self.smooth, self.probe = every, smooth, probe
        self.lang, self.dark, self.sig = i18n.check_lang(lang), False, None   # dark: the front end's theme
        self.show_features, self.show_kernels, self.show_histograms = features, kernels, histograms
        self.mode, self.clock, self.out, self.make_view = mode, clock, out, view
        self.control = control or Control(clock=clock)
        self.background = False              # set before show() by start_background: the page asks, we answer
        self.after_end: list = []            # a background run's page asked after the end: re-send these (delivery)
        self._trainer, self._meta_due = None, False
        self.external_control = False        # True when a Run registers the Control as its own callback
        self.state = None
        self.view = None
        self.feed = Feed()                   # cursors into the run record (state.history)
        self.images: dict = {"fmap": {}, "kern": {}, "hist": []}
        self.fmaps, self.kern, self.weights = {}, {}, {}
        self.updates, self.costs = 0, collections.deque(maxlen=1000)   # seconds each update took (kernel side)
        self.insight = None                  # the insight panel's numbers of the latest validation
        self.panel_costs: list[float] = []   # seconds of each epoch end's insight gathering (the benchmark reads it)
        self.done_view, self.saved = None, ""
        self.figure, self.last_png, self.error = None, b"", None
        self._drawn_dark = False               # the theme of the final picture drawn last
        self._last = -math.inf
        self._panels_at, self._panels_epoch = None, 0     # when and after which epoch the panels were taken
        self._foreground, self._inbox = True, None
        self._lock = threading.RLock()

    @property
    def record(self):
        """The run record this dashboard reads (``state.history``), or None before a run."""
        return self.state.history if self.state is not None else None

    # -- setup -----------------------------------------------------------------------------------
    def _resolve_mode(self) -> str:
        if self.mode == "auto":
            self.mode = "widgets" if wants_widgets() else "text"
        return self.mode

    @property
    def shows_notes(self) -> bool:
        """True when the doctor's notes appear here (so they need not be printed again as warnings)."""
        return self._resolve_mode() == "widgets"

    def show(self) -> None:
        """Display the live widget in the current cell's output (once per run)."""
        if self._resolve_mode() != "widgets" or self.view is not None:
            return
        self.view = self.make_view(self._message, self.meta())
        self.view.display()

    # -- messages from the browser (a subshell thread, or the main one when the kernel is idle) ---------
    def _message(self, content: dict) -> None:
        kind = content.get("t")
        if kind == "stop":
            self.control.stop()
        elif kind == "pause":
            self.toggle_pause()
        elif kind == "lr":
            self.control.scale_lr(float(content.get("value", 1.0)))
        elif kind == "hello":                # a new model in the browser: everything again
            with self._lock:
                self.feed.reset()
        elif kind == "export":
            self._export_click()
        elif kind == "ask":
            self._answer()
        elif kind == "theme":
            self.dark = bool(content.get("dark"))
            if self.done_view is not None and self.last_png and self.dark != self._drawn_dark:
                self._redraw_final()       # the page said its theme after the run ended (a short run, a busy kernel)
        self.push()

    def _redraw_final(self) -> None:
        """The final picture again, in the theme the page said, in the cell's output (a comm handler's thread)."""
        try:
            self.last_png = self.final_png()
            self.done_view.finish(self.last_png, self.status_text())
        except Exception as e:  # the picture drawn before stays
            self.error = e

    def toggle_pause(self) -> None:
        if self.control.paused:
            self.control.resume()
        else:
            self.control.pause()

    # -- events (training thread: bookkeeping, and an update when one is due) -----------------------
    def on_fit_start(self, state) -> None:
        self.state = state
        record_of(state)
        self.fmaps, self.kern, self.weights = {}, {}, {}
        self.images = {"fmap": {}, "kern": {}, "hist": []}
        self.insight, self.done_view, self.saved = None, None, ""
        self._last, self._panels_at, self._panels_epoch = -math.inf, None, 0
        self._foreground = threading.current_thread() is threading.main_thread()
        self._trainer = threading.current_thread()
        if not self.external_control:
            self.control.on_fit_start(state)
        self.sig = feed.signature(state)
        if self._resolve_mode() != "widgets":
            return
        self.show()
        self._open_inbox()
        self._capture(state)
        with self._lock:
            self.feed.reset()
            self._set_meta()
        self._last = self.clock()             # the first update after ``every``: the browser has loaded the view

    def on_batch_end(self, state, logs) -> None:
        if self.view is not None and self.clock() - self._last >= self.every:
            self._poll()
            self.push()
        if not self.external_control:
            self.control.on_batch_end(state, logs)

    def on_log(self, state, logs) -> None:
        view = self.view
        if view is not None and view.widget.meta.get("layers") is None and state.history.layer_names:
            self._set_meta()                   # a LayerStats placed after this dashboard named its layers later

    def on_epoch_end(self, state, logs) -> None:
        if self.mode == "widgets":
            if self._panels_due(state):
                self._panels(state)
        else:
            mem = memory_line(cuda_memory(state.device))
            self._print(self.epoch_line(state, logs) + (f"  ({mem})" if mem else ""))

    def on_fit_end(self, state) -> None:
        if self.mode != "widgets":
            reason = state.stop_reason
            if reason:
                self._print(f"stopped at epoch {state.epoch + 1}/{state.epochs}, step {state.step}: {reason}")
            return
        self._close_inbox()
        if self.view is not None and self._panels_epoch != state.epochs_done:   # a stop after this sink's epoch end
            self._panels(state)
        self.push(final=True)
        if self.view is None:
            return
        try:                                  # the run is over: matplotlib and PNG encoding are fine now
            self.last_png = self.final_png()
            self.view.finish(self.last_png, self.status_text())
        except Exception as e:  # the live view stays; the error is kept for the user
            self.error = e
        h = state.history
        feed.remember(self._label(state), [numeric(r) for r in h.steps], [numeric(r) for r in h.epochs],
                      sig=self.sig)
        self.done_view, self.view = self.view, None   # a next fit shows a fresh one; the old one can still export


    def _panels_due(self, state) -> bool:
        """Feature maps, kernels and the insight panel at an epoch end: at the first, the last and one that stops the
        run, and when the last ones are ``every`` seconds old (what the browser gets at its next update: on epochs
        shorter than ``every`` the others would be replaced before anyone saw them)."""
        return (self._panels_at is None or state.should_stop or state.epoch + 1 >= state.epochs
                or self.clock() - self._panels_at >= self.every)

    def _panels(self, state) -> None:
        with one_cpu_thread(getattr(state.device, "type", "cpu") == "cpu"):   # one sample's maps, thumbnails: tiny
            self._capture(state)              # ops, each a barrier of torch's pool at its default threads
            self._gather(state)
        self._panels_at, self._panels_epoch = self.clock(), state.epochs_done

    def _capture(self, state) -> None:
        """Feature maps and kernels now, in the training thread (the model is not stepping meanwhile), as tiles."""
        model = state.model
        if model is None:
            return
        try:
            x = self._probe_input(state)
            if self.show_features and x is not None:
                self.fmaps = F.capture(model, x)
            if self.show_kernels:
                self.kern = F.kernels(model)
            images = feed.tiles(self.fmaps, self.kern)
            if self.show_histograms:
                self.weights = {n: p.detach().float().cpu().clone() for n, p in model.named_parameters()}
                images["hist"] = feed.histograms(self.weights)
            self.images = images
        except Exception as e:  # shown in the status line, training goes on
            self.error = e

    def _gather(self, state) -> None:
        """The insight panel's numbers of this epoch's validation (a few small lists, a few thumbnails)."""
        t = time.perf_counter()
        try:
            found = panels.insight(state.history, state.val_loader, state.epoch + 1)
        except Exception as e:  # shown in the status line, training goes on
            self.error, found = e, None
        if found is not None:
            self.insight = found
        self.panel_costs.append(time.perf_counter() - t)

    def _probe_input(self, state):
        probe = self.probe if self.probe is not None else state.probe
        if probe is None:
            ds = getattr(state.val_loader, "dataset", None)
            try:
                probe = ds[0][0].unsqueeze(0) if ds is not None and len(ds) else None
            except Exception:  # a dataset we cannot index: no feature maps
                probe = None
            self.probe = probe
        if isinstance(probe, (tuple, list)):
            probe = probe[0]
        return probe[:1] if probe is not None else None

    # -- updates (training thread when due, a click's thread, the end) -------------------------------
    def push(self, final: bool = False) -> None:
        """Send what is new since the last update (nothing when nothing changed); time it."""
        with self._lock:
            view = self.view
            if view is None or self._quiet():
                return
            t = time.perf_counter()
            msg = self.feed.take(self.record, self.head(), self.images, self.insight, final)
            if msg is not None:
                view.send(msg)
                self.updates += 1
                self.costs.append(time.perf_counter() - t)
            self._last = self.clock()

    def meta(self) -> dict:
        """What is fixed for a run: total steps, the curves of earlier runs, which panels."""
        st = self.state
        total = st.epochs * st.steps_per_epoch if st is not None else 0
        return {"label": self._label(st), "past": feed.matching(self.sig), "total": total, "smooth": self.smooth,
                "lang": self.lang,
                "ask": self.every if self.background else 0,
                "spe": st.steps_per_epoch if st is not None else 0, "features": self.show_features,
                "kernels": self.show_kernels, "layers": panels.layer_meta(self.record)}

    def head(self) -> dict:
        """The status part of every update: the line, progress, paused, running."""
        st = self.state
        total = max(1, st.epochs * st.steps_per_epoch) if st is not None else 1
        return {"status": self.status_text(), "progress": [min(st.step, total) if st else 0, total],
                "paused": self.control.paused, "error": repr(self.error) if self.error else "",
                "memory": memory_line(cuda_memory(st.device)) if st is not None else "",
                "reach": not self._foreground or self._inbox is not None or bool(self.view and self.view.via_subshell)}

    def final_png(self) -> bytes:
        """The final picture, every panel in the run's language and the front end's theme, as PNG (matplotlib;
        only once the run has ended)."""
        png, self.figure = picture.final_png(self)
        self._drawn_dark = self.dark
        return png

    def export_html(self, path=None):
        """Write this dashboard as one self-contained HTML file (curves, panels, spec, code); returns its path.
        Default path: ``<run dir>/dashboard.html`` when the run logs to TensorBoard, else ``<run name>.html``."""
        return export.export_html(self, path if path is not None else export.default_path(self.state))

    def _export_click(self) -> None:
        view = self.view or self.done_view
        try:
            self.saved = f"saved {self.export_html()}"
        except Exception as e:  # said in the widget, the run goes on
            self.saved = f"export failed: {type(e).__name__}: {e}"
        if view is not None:
            view.send({"t": "saved", "text": self.saved})

    def _label(self, state) -> str:
        if getattr(state, "run_name", ""):
            return state.run_name
        rows = state.history.lr_rows if state is not None and state.history is not None else []
        lr = rows[0][1][0] if rows and rows[0][1] else None
        return f"run {feed.finished() + 1}" + (f" · lr {lr:.3g}" if lr is not None else "")

    # -- text ------------------------------------------------------------------------------------
    def status_text(self) -> str:
        """``epoch e/E · step s/S · N samples/s · ETA m:ss · best val_loss v (epoch k)``"""
        return text.status_text(self)

    def epoch_line(self, state, logs) -> str:
        return text.epoch_line(self, state, logs)

    def _print(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)
