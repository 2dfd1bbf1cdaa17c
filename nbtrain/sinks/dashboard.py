"""The live dashboard: what makes fit() watchable in a notebook.

One output area holds core ipywidgets only (HTML status, IntProgress, Buttons, a log slider, Image
widgets showing PNGs), so it renders alike in JupyterLab 4, Notebook 7, VS Code and Colab. Widgets are
updated in place (no clear_output), by a render thread at most every ``every`` seconds: the loop's events
only append numbers to lists, and feature maps / kernels are captured once per epoch on a fixed probe
batch. When the run ends the widgets are replaced by a static PNG of the curves, so a saved notebook
shows the result. In a plain terminal the dashboard prints one text line per epoch instead.

A Stop or Pause click reaches the kernel only when it is idle, that is for ``fit(..., background=True)``;
while a foreground fit keeps the kernel busy, use the kernel's interrupt (the loop stops cleanly).
"""
from __future__ import annotations

import html
import math
import sys
import threading
import time

from ..callbacks import Callback


def in_notebook() -> bool:
    try:
        from ..env import in_notebook as detect
    except ImportError:  # pragma: no cover - env.py is the loop's; this is its same test
        ip = sys.modules.get("IPython")
        shell = ip.get_ipython() if ip is not None else None
        return shell is not None and hasattr(shell, "kernel")
    return detect()


def wants_widgets() -> bool:
    """A Jupyter kernel with ipywidgets importable: the widget dashboard; else the text lines."""
    if not in_notebook():
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class Dashboard(Callback):
    """Curves, LR per group with its planned schedule, feature maps, kernels, status, Stop/Pause, LR slider.

    every:      seconds between redraws (wall clock); the loop never waits for one.
    features, kernels, histograms: which image panels to show.
    smooth:     EMA factor of the per-step curves.
    probe:      an input batch (or ``(x, y)``) for the feature maps; default the loop's ``state.probe``,
                else the first validation sample.
    mode:       "auto" (widgets in a notebook, text elsewhere), "widgets" or "text".
    threaded:   redraw from a render thread (default); False redraws inside ``on_batch_end`` when due.
    budget:     the figures (curves, images) are redrawn only ``cost / budget`` seconds after the last drawing,
                so they take at most this fraction of the time (status and progress still update every ``every``).
    first_after: no figure before the run has lasted this long (a run of two seconds only draws its final one;
                the status line and progress bar move from the start).
    clock, out: injected wall clock and text stream (tests).
    """

    def __init__(self, every: float = 0.5, features: bool = True, kernels: bool = True, histograms: bool = False,
                 smooth: float = 0.6, probe=None, mode: str = "auto", threaded: bool = True,
                 clock=time.monotonic, out=None, control=None, budget: float = 0.01, first_after: float = 2.0):
        from .control import Control
        self.every, self.smooth, self.probe, self.budget, self.first_after = every, smooth, probe, budget, first_after
        self.show_features, self.show_kernels, self.show_histograms = features, kernels, histograms
        self.mode, self.threaded, self.clock, self.out = mode, threaded, clock, out
        self.control = control or Control(clock=clock)
        self.external_control = False        # True when a Run registers the Control as its own callback
        self.state = None
        self.steps: list[dict] = []          # log points: step and numeric logs
        self.epochs: list[dict] = []         # epoch logs, with the global step at the epoch's end
        self.lr_steps: list[int] = []
        self.lrs: list[list[float]] = []
        self.plan = None                     # plan[g][t]: planned LR of group g at step t
        self.lr_scale = 1.0
        self._scales: list = []              # (first step, LR factor) for each slider change
        self.fmaps: dict = {}
        self.kern: dict = {}
        self.weights: dict = {}
        self.redraws = 0
        self.last_png: bytes = b""
        self.error: BaseException | None = None
        self._pending_scale: float | None = None
        self._interrupted = ""
        self._data_version = self._drawn_data = 0       # bumped by each log point / epoch end / LR change
        self._img_version = self._drawn_img = 0
        self._last = self._heavy_at = -math.inf
        self._heavy_cost = 0.0
        self._plot = None
        self._plot_returned = False
        self._t0 = None
        self._w: dict = {}
        self._handle = None
        self._picking = False                # True while the dashboard itself sets a layer picker
        self._thread = None
        self._halt = threading.Event()
        self._lock = threading.Lock()

    # -- setup -----------------------------------------------------------------------------------
    def _resolve_mode(self) -> str:
        if self.mode == "auto":
            self.mode = "widgets" if wants_widgets() else "text"
        return self.mode

    def show(self) -> None:
        """Display the widgets in the current cell's output (once)."""
        if self._resolve_mode() != "widgets" or self._handle is not None:
            return
        from IPython.display import display
        self._build_widgets()
        self._handle = display(self._w["box"], display_id=True)

    def _build_widgets(self) -> None:
        import ipywidgets as W
        w = self._w
        w["status"] = W.HTML("starting…")
        w["progress"] = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="40%"))
        w["pause"] = W.Button(description="Pause", icon="pause", layout=W.Layout(width="100px"))
        w["stop"] = W.Button(description="Stop", icon="stop", button_style="danger", layout=W.Layout(width="100px"))
        w["lr"] = W.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.05, description="LR ×",
                                   readout_format=".2g", continuous_update=False)
        # images at their own size (front ends stretch an image to the box's width: blurry curves, and grids
        # squeezed to a quarter in a row of two), shrunk only to fit a narrow output
        fit = dict(max_width="100%", height="auto")
        w["curves"] = W.Image(format="png", layout=W.Layout(**fit))
        w["fmap_pick"] = W.Dropdown(description="features", options=[])
        w["fmap"] = W.Image(format="png", layout=W.Layout(**fit))
        w["kern_pick"] = W.Dropdown(description="kernels", options=[])
        w["kern"] = W.Image(format="png", layout=W.Layout(**fit))
        w["hist"] = W.Image(format="png", layout=W.Layout(**fit))
        w["doctor"] = W.HTML("")
        for name in ("status", "curves", "fmap", "kern", "hist", "doctor"):
            w[name].add_class(f"nbtrain-{name}")        # names a front end (or a test) can find them by
        w["pause"].on_click(lambda _: self.toggle_pause())
        w["stop"].on_click(lambda _: self.control.stop())
        w["lr"].observe(lambda ch: self.set_lr_scale(ch["new"]), names="value")
        w["fmap_pick"].observe(lambda ch: self._picked(), names="value")
        w["kern_pick"].observe(lambda ch: self._picked(), names="value")
        controls = W.HBox([w["progress"], w["pause"], w["stop"], w["lr"]], layout=W.Layout(width="100%"))
        rows = [w["status"], controls, w["curves"]]
        if self.show_features:
            rows += [w["fmap_pick"], w["fmap"]]
        if self.show_kernels:
            rows += [w["kern_pick"], w["kern"]]
        rows += [w["hist"]] if self.show_histograms else []
        w["box"] = W.VBox(rows + [w["doctor"]], layout=W.Layout(align_items="flex-start"))

    def _picked(self) -> None:
        if self._picking:                    # our own options/value update, inside _draw_images (lock held)
            return
        with self._lock:
            self._draw_images(force=True)

    # -- control (buttons, slider) ---------------------------------------------------------------
    def toggle_pause(self) -> None:
        if self.control.paused:
            self.control.resume()
        else:
            self.control.pause()
        if "pause" in self._w:
            self._w["pause"].description = "Resume" if self.control.paused else "Pause"
            self._w["pause"].icon = "play" if self.control.paused else "pause"

    def set_lr_scale(self, scale: float) -> None:
        """Scale the LR of every group (and the schedule ahead) to ``scale`` x the planned one, from the next step."""
        self._pending_scale = float(scale)

    def _apply_lr_scale(self, state) -> None:
        new, self._pending_scale = self._pending_scale, None
        if new is None or new == self.lr_scale or state.optimizer is None:
            return
        state.scale_lr(new / self.lr_scale)
        self.lr_scale = new
        self._scales.append((state.step, new))
        self._data_version += 1

    # -- events (training thread: cheap bookkeeping only) ----------------------------------------
    def on_fit_start(self, state) -> None:
        self.state, self._t0, self._start_step = state, self.clock(), state.step
        self.steps, self.epochs, self.lr_steps, self.lrs, self._scales = [], [], [], [], []
        self._plot, self._plot_returned, self._interrupted, self.lr_scale = None, False, "", 1.0
        if not self.external_control:
            self.control.on_fit_start(state)
        self._resolve_mode()
        self.plan = _plan(state)
        self._record_lr(state)
        if self.mode != "widgets":
            return
        self.show()
        self._capture(state)
        if not self.threaded:
            self.redraw()
        else:                                          # the figures come from the render thread
            self._draw_status()
            self._halt.clear()
            self._thread = threading.Thread(target=self._render_loop, name="nbtrain-dashboard", daemon=True)
            self._thread.start()

    def on_batch_end(self, state, logs) -> None:
        if self._pending_scale is not None:
            self._apply_lr_scale(state)
        if not self.external_control:
            self.control.on_batch_end(state, logs)
        if self.mode == "widgets" and not self.threaded and self.clock() - self._last >= self.every:
            self.redraw()

    def on_log(self, state, logs) -> None:
        row = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        row["step"] = state.step
        self.steps.append(row)
        self._record_lr(state)
        self._data_version += 1

    def on_epoch_end(self, state, logs) -> None:
        row = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        row["step"] = state.step
        self.epochs.append(row)
        self._data_version += 1
        if self.mode == "widgets":
            self._capture(state)
        else:
            self._print(self.epoch_line(state, logs))

    def on_interrupt(self, state, exc) -> None:
        self._interrupted = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def on_fit_end(self, state) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.mode != "widgets":
            reason = self._interrupted or state.stop_reason
            if reason:
                self._print(f"stopped at epoch {state.epoch + 1}/{state.epochs}, step {state.step}: {reason}")
            return
        self.redraw(final=True)
        self._leave_png()
        if self._plot is not None:     # for the next run's dashboard; kept here for inspection, never drawn on again
            from .. import viz
            viz.give_back_curves_plot(self._plot)
            self._plot_returned = True

    def _record_lr(self, state) -> None:
        opt = state.optimizer
        if opt is not None:
            self.lr_steps.append(state.step)
            self.lrs.append([float(g["lr"]) for g in opt.param_groups])

    def _capture(self, state) -> None:
        """Feature maps and kernels now, in the training thread (the model is not stepping meanwhile)."""
        model = state.model
        if model is None:
            return
        from .. import features as F
        try:
            x = self._probe_input(state)
            if self.show_features and x is not None:
                self.fmaps = F.capture(model, x)
            if self.show_kernels:
                self.kern = F.kernels(model)
            if self.show_histograms:
                self.weights = {n: p.detach().float().cpu().clone() for n, p in model.named_parameters()}
            self._img_version += 1
        except Exception as e:  # noqa: BLE001 - shown in the status line, training goes on
            self.error = e

    def _probe_input(self, state):
        probe = self.probe if self.probe is not None else state.probe
        if probe is None:
            ds = getattr(state.val_loader, "dataset", None)
            try:
                probe = ds[0][0].unsqueeze(0) if ds is not None and len(ds) else None
            except Exception:  # noqa: BLE001 - a dataset we cannot index: no feature maps
                probe = None
            self.probe = probe
        if isinstance(probe, (tuple, list)):
            probe = probe[0]
        return probe[:1] if probe is not None else None

    # -- drawing (render thread) -----------------------------------------------------------------
    def _render_loop(self) -> None:
        while not self._halt.wait(self.every):
            self.redraw()

    def redraw(self, final: bool = False) -> None:
        """Status and progress always; the curves when there is new data; images when recaptured."""
        with self._lock:
            self._last = self.clock()
            try:
                self._draw(final)
            except Exception as e:  # noqa: BLE001 - shown in the UI, not swallowed
                self.error = e
            self.redraws += 1
            if self.error is not None and "status" in self._w:
                self._w["status"].value += (f"<br><span style='color:#c00'>dashboard error: "
                                            f"{html.escape(repr(self.error))}</span>")

    def _draw(self, final: bool) -> None:
        self._draw_status(final)
        self._draw_figures(final)

    def _draw_status(self, final: bool = False) -> None:
        st, w = self.state, self._w
        if st is not None and w:
            w["status"].value = html.escape(self.status_text())
            w["progress"].max = max(1, st.epochs * st.steps_per_epoch)
            w["progress"].value = min(st.step, w["progress"].max)
            notes = st.notes
            w["doctor"].value = "".join(f"<div style='color:#b35c00'>⚠ {html.escape(n)}</div>" for n in notes)
            w["pause"].description = "Resume" if self.control.paused else "Pause"     # also after run.pause()
            w["pause"].icon = "play" if self.control.paused else "pause"
            if final:
                for b in ("pause", "stop", "lr"):
                    w[b].disabled = True

    def _draw_figures(self, final: bool) -> None:
        w = self._w
        if not final and (self.clock() - self._heavy_at < self._heavy_cost / self.budget
                          or self.clock() - self._t0 < self.first_after):
            return                                   # the figures wait: they would take more than the budget
        t = time.perf_counter()
        drew = False
        if final or self._drawn_data < self._data_version:          # (no frame before the first log point)
            self._drawn_data = self._data_version
            self.last_png = self.curves_png(self.status_text() if final else "", 6 if final else 1)
            if w:
                w["curves"].value = self.last_png
            drew = True
        if not (final and self._handle is not None):   # the final PNG replaces the image widgets anyway
            drew = self._draw_images() or drew
        if drew:                                     # a decaying max: one full draw keeps the next ones apart
            self._heavy_cost = max(time.perf_counter() - t, 0.7 * self._heavy_cost)
            self._heavy_at = self.clock()

    def _draw_images(self, force: bool = False) -> bool:
        from .. import viz
        w = self._w
        if not w or (self._img_version == self._drawn_img and not force):
            return False
        self._drawn_img = self._img_version
        for kind, maps, grid in (("fmap", self.fmaps, viz.feature_grid), ("kern", self.kern, viz.kernel_grid)):
            pick = w[f"{kind}_pick"]
            names = list(maps)
            name = _pick(pick, names, self)
            if name is not None:
                w[kind].value = viz.grid_png(grid(maps[name]))
        if self.show_histograms and self.weights:
            w["hist"].value = viz.to_png(viz.weight_histograms(self.weights))
        return True

    def curves_png(self, title: str = "", compress_level: int = 1) -> bytes:
        """The curves figure as PNG: one persistent figure, updated in place (rebuilt only when the panels change)."""
        from .. import viz
        steps, epochs = list(self.steps), list(self.epochs)
        n = min(len(self.lr_steps), len(self.lrs))
        lr_steps, lrs = self.lr_steps[:n], self.lrs[:n]
        metrics = tuple(viz.metric_keys(steps + epochs)[:2] or ["loss"])
        plan = self.plan
        if plan and self._scales:
            plan = [_scaled(p, self._scales) for p in plan]
        groups = max(len(lrs[0]) if lrs else 0, len(plan) if plan else 0, 1)
        if self._plot is None or self._plot_returned or self._plot.metrics != metrics or self._plot.groups != groups:
            total = self.state.epochs * self.state.steps_per_epoch if self.state is not None else 0
            if self._plot is not None and not self._plot_returned:
                viz.give_back_curves_plot(self._plot)
            self._plot_returned = False
            self._plot = viz.take_curves_plot(metrics, groups, total)
        self._plot.update(steps, epochs, lr_steps, lrs, plan, title, self.smooth)
        return self._plot.png(compress_level)

    def _leave_png(self) -> None:
        """Leave a static picture of the final curves where the widgets were (what a saved notebook shows).

        Two ways, because neither reaches every front end. The display's ``update`` puts an image/png output in
        the widgets' place, but a front end applies it only while it still tracks the message that made the
        display: a cell's execution does, a widget click's message (the Workbench's Train button) does not, and
        an Output widget (the Workbench's Train tab) ignores update_display_data altogether. So the widget box
        itself is also cut down to the status line and the final curves image, which every live view shows:
        closing the widgets instead would leave such an area empty.
        """
        if self._handle is None:
            return
        import base64
        w = self._w
        keep = (w["status"], w["curves"], w["doctor"])
        w["curves"].add_class("nbtrain-final")
        dropped = [c for c in w["box"].children if c not in keep]
        w["box"].children = keep
        bundle = {"image/png": base64.b64encode(self.last_png).decode("ascii"), "text/plain": self.status_text()}
        self._handle.update(bundle, raw=True)
        for widget in dropped + [v for k, v in w.items() if k != "box" and v not in keep]:
            widget.close()
        self._handle, self._w = None, {}              # a next fit with this dashboard shows a fresh one

    # -- text ------------------------------------------------------------------------------------
    def status_text(self) -> str:
        """``epoch e/E · step s/S · N samples/s · ETA m:ss · best val_loss v (epoch k)``"""
        st = self.state
        if st is None:
            return "starting"
        total = st.epochs * st.steps_per_epoch
        parts = [f"epoch {min(st.epoch + 1, st.epochs)}/{st.epochs}", f"step {st.step}/{total}"]
        elapsed = self.clock() - self._t0 - self.control.paused_seconds() if self._t0 is not None else 0.0
        done = st.step - self._start_step
        if elapsed > 0 and done > 0:                 # training time only: a pause lowers neither rate nor ETA
            rate = done / elapsed
            bs = getattr(st.train_loader, "batch_size", None)
            parts.append(f"{rate * bs:.0f} samples/s" if bs else f"{rate:.1f} steps/s")
            parts.append("ETA " + _clock(max(0, total - st.step) / rate))
        best = self.best()
        if best:
            parts.append(f"best {best[0]} {best[1]:.4g} (epoch {best[2]})")
        if self.control.paused:
            parts.append("paused")
        reason = self._interrupted or st.stop_reason
        if reason:
            parts.append(f"stopped: {reason}")
        return " · ".join(parts)

    def best(self):
        """(monitor, best value, 1-based epoch) over the epochs so far, or None."""
        loop = getattr(getattr(self.state, "spec", None), "loop", None)
        key, mode = (loop.monitor, loop.mode) if loop is not None else ("val_loss", "min")
        rows = [(r[key], i + 1) for i, r in enumerate(self.epochs) if isinstance(r.get(key), float)
                and math.isfinite(r[key])]
        if not rows:
            return None
        v, e = (min if mode == "min" else max)(rows, key=lambda t: t[0])
        return key, v, e

    def epoch_line(self, state, logs) -> str:
        vals = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch")
        elapsed = self.clock() - self._t0 if self._t0 is not None else 0.0
        return f"epoch {state.epoch + 1}/{state.epochs}  {vals}  ({elapsed:.1f}s)"

    def _print(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)


def _pick(pick, names: list, dash) -> str | None:
    """Give a layer picker these options and a selected value (ipywidgets 8 leaves the value None when options
    go from none to some, so the front end would show an empty selection); return the selected name."""
    value = (pick.value if pick.value in names else names[0]) if names else None
    if list(pick.options) != names or pick.value != value:
        dash._picking = True                 # no _picked redraw: the caller draws, and holds the lock
        try:
            pick.options = names
            pick.value = value
        finally:
            dash._picking = False
    return value


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _scaled(plan, scales) -> list:
    """The planned LRs with each slider factor applied from the step it was set at."""
    out, factor, k = [], 1.0, 0
    for t, v in enumerate(plan):
        while k < len(scales) and scales[k][0] <= t:
            factor, k = scales[k][1], k + 1
        out.append(v * factor)
    return out


def _plan(state):
    """The planned LR per group and step: the loop's ``state.lr_plan``, else lr_curve of the spec."""
    plan = state.lr_plan
    if plan is not None or state.spec is None or not state.steps_per_epoch:
        return plan
    try:
        from ..optim import lr_curve
        return lr_curve(state.spec.optim, state.spec.sched, state.epochs, state.steps_per_epoch)
    except Exception:  # noqa: BLE001 - no plan drawn is better than no dashboard
        return None
