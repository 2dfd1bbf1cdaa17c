"""The Dashboard sink driven by a hand-written loop (no kernel): text lines, widgets, throttling, controls."""
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch.optim import lr_scheduler as S

from fakeloop import mini_fit
from nbtrain.sinks.dashboard import Dashboard
from nbtrain.sinks.doctor import Doctor


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _dash(**kw):
    clock = Clock()
    d = Dashboard(mode="widgets", threaded=False, clock=clock, budget=1e9, first_after=0, **kw)
    return d, clock


def _pixels(png: bytes):
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))


def test_text_mode_prints_one_line_per_epoch():
    out = io.StringIO()
    state = mini_fit(callbacks=[Dashboard(mode="text", out=out)], epochs=2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for i, (line, logs) in enumerate(zip(lines, state.history)):
        assert line.startswith(f"epoch {i + 1}/2  loss {logs['loss']:.4g}  val_loss {logs['val_loss']:.4g}  "
                               f"val_accuracy {logs['val_accuracy']:.4g}  (")


def test_widgets_redraw_by_wall_clock_and_status_matches_the_history():
    d, clock = _dash()
    frames = []

    def tick(state):
        clock.t += 0.125                                   # 8 steps a second: a redraw every 4 steps
        if state.step == 1:
            d._w["curves"].observe(lambda ch: frames.append(ch["new"]), names="value")

    state = mini_fit(callbacks=[d], epochs=2, step_hook=tick)        # 12 steps
    assert d.redraws == 1 + 3 + 1                           # at the start, steps 4, 8, 12, and the final one
    assert len(frames) >= 3 and len({f for f in frames}) == len(frames)
    assert all(_pixels(f).std() > 20 for f in frames)
    assert d._w["progress"].value == d._w["progress"].max == 12
    vals = [h["val_loss"] for h in state.history]
    best = int(np.argmin(vals))
    m = re.fullmatch(r"epoch (\d+)/2 · step (\d+)/12 · (\d+) samples/s · ETA 0:00 · best val_loss ([\d.]+) "
                     r"\(epoch (\d)\)", d.status_text())
    assert m, d.status_text()
    assert int(m[1]) == len(state.history) and int(m[2]) == state.step == 12
    assert int(m[3]) == round(12 * 8 / 1.5)                 # 12 steps of 8 samples in 1.5 s of the clock
    assert float(m[4]) == pytest.approx(vals[best], abs=1e-4) and int(m[5]) == best + 1
    assert d._w["status"].value == d.status_text()
    assert d.last_png and _pixels(d.last_png).std() > 20


def test_a_pause_counts_in_neither_the_rate_nor_the_eta():
    import threading
    d, clock = _dash()

    def resume_later():
        d.control.blocked.wait(10)
        clock.t += 600.0                                    # ten minutes paused
        d.control.resume()

    def tick(state):
        clock.t += 0.125
        if state.step == 6:
            d.control.pause()                               # the loop blocks after this batch
            threading.Thread(target=resume_later, daemon=True).start()

    mini_fit(callbacks=[d], epochs=2, step_hook=tick)
    assert d.control.paused_seconds() == 600.0
    assert " · 64 samples/s · " in d.status_text()          # 12 steps of 8 samples in 1.5 s of training


def test_layer_pickers_switch_the_feature_and_kernel_images():
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=1)
    w = d._w
    assert list(w["fmap_pick"].options) == list(w["kern_pick"].options) == ["0", "3"]
    assert w["fmap_pick"].value == w["kern_pick"].value == "0"          # a selection the front end can show
    assert w["fmap_pick"].index == w["kern_pick"].index == 0
    first_f, first_k = w["fmap"].value, w["kern"].value
    w["fmap_pick"].value = "3"
    w["kern_pick"].value = "3"
    assert w["fmap"].value != first_f and w["kern"].value != first_k
    assert d.fmaps["3"].shape == (1, 6, 4, 4) and d.kern["3"].shape == (6, 4, 3, 3)
    assert _pixels(w["fmap"].value).std() > 10


class Handle:
    """A DisplayHandle that keeps what update() sent."""
    def __init__(self):
        self.updates = []

    def update(self, obj, raw=False):
        self.updates.append((obj, raw))


@pytest.mark.parametrize("stop_at", [4, None], ids=["stop", "completion"])
def test_the_end_leaves_the_final_curves_in_the_box_and_in_the_display(stop_at):
    d, _ = _dash()
    d._build_widgets()
    d._handle = handle = Handle()                       # as show() in a kernel
    w = dict(d._w)
    state = mini_fit(callbacks=[d], epochs=3, step_hook=lambda s: s.step == stop_at and w["stop"].click())
    assert state.stop_reason == ("stopped by you" if stop_at else "") and state.step == (stop_at or 18)
    said = ("epoch 1/3 · step 4/18 · ", "stopped: stopped by you") if stop_at else ("epoch 3/3 · step 18/18 · ", ")")
    # an Output widget (the Workbench's Train tab) ignores the display update: the box itself shows the picture
    assert w["box"].children == (w["status"], w["curves"], w["doctor"]) and w["box"].comm is not None
    assert "nbtrain-final" in w["curves"]._dom_classes and w["curves"].value == d.last_png
    assert _pixels(d.last_png).std() > 20
    assert w["status"].value.startswith(said[0]) and w["status"].value.endswith(said[1])
    assert all(w[k].comm is None for k in ("stop", "pause", "lr", "progress", "fmap", "fmap_pick", "kern"))
    # a cell's display is replaced by the same PNG, for a saved notebook
    [(bundle, raw)] = handle.updates
    assert raw and bundle["text/plain"] == d.status_text() == w["status"].value
    import base64
    assert base64.b64decode(bundle["image/png"]) == d.last_png
    assert d._w == {} and d._handle is None


def test_stop_button_stops_within_one_batch():
    d, _ = _dash()
    state = mini_fit(callbacks=[d], epochs=3, step_hook=lambda s: s.step == 4 and d._w["stop"].click())
    assert state.step == 4 and state.stop_reason == "stopped by you"
    assert d.status_text().endswith("stopped: stopped by you")


def test_pause_button_toggles_the_shared_control():
    d, _ = _dash()
    d.show()
    d._w["pause"].click()
    assert d.control.paused and d._w["pause"].description == "Resume"
    d._w["pause"].click()
    assert not d.control.paused and d._w["pause"].description == "Pause"


def test_doctor_messages_show_in_the_dashboard():
    d, _ = _dash()
    mini_fit(callbacks=[Doctor(emit=lambda c, m: None), d], lr=1e6, epochs=1)
    assert "⚠ the loss is nan at step" in d._w["doctor"].value


def test_lr_slider_scales_every_group_from_the_next_step_and_the_plan_ahead():
    d, _ = _dash()
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 64, 3))
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.1}, {"params": model[3].parameters()}], lr=0.2)
    sched = S.StepLR(opt, step_size=4, gamma=0.5)
    plan = [[0.1 * 0.5 ** (t // 4) for t in range(12)], [0.2 * 0.5 ** (t // 4) for t in range(12)]]
    seen = {}

    def hook(state):
        seen[state.step] = [g["lr"] for g in opt.param_groups]
        if state.step == 5:
            d._w["lr"].value = 0.1

    from nbtrain.callbacks import Callback

    class PutPlan(Callback):
        def on_fit_start(self, state):
            state.lr_plan = plan
    mini_fit(model=model, callbacks=[PutPlan(), d], optimizer=opt, scheduler=sched, epochs=2, step_hook=hook)
    assert seen[5] == pytest.approx([p[5] for p in plan])
    for t in range(6, 13):                                  # lr after t steps is the one used for step t + 1
        if t < 12:
            assert seen[t] == pytest.approx([p[t] * 0.1 for p in plan])
    lr_ax = d._plot.axes[-1]
    planned = lr_ax.lines[0].get_ydata()
    assert planned[4] == pytest.approx(plan[0][4]) and planned[5] == pytest.approx(plan[0][5] * 0.1)
    assert planned[11] == pytest.approx(plan[0][11] * 0.1)


def test_threaded_dashboard_renders_off_the_loop_and_stops_its_thread():
    import threading
    import time
    from nbtrain.callbacks import Callback
    d = Dashboard(mode="widgets", every=0.01, first_after=0, budget=1.0)
    drawn_by = set()
    real_draw = d._draw_figures

    def spy(final):
        drawn_by.add(threading.current_thread().name)
        real_draw(final)
    d._draw_figures = spy

    class WaitForFrame(Callback):                   # the render thread draws epoch 1 before epoch 2 starts
        def on_epoch_end(self, state, logs):
            t = time.monotonic()
            while d._drawn_data < d._data_version and time.monotonic() - t < 30:
                time.sleep(0.005)
    mini_fit(callbacks=[d, WaitForFrame()], epochs=2)
    assert "nbtrain-dashboard" in drawn_by and d._drawn_data == d._data_version
    assert d._thread is None and d.error is None
    assert _pixels(d.last_png).std() > 20


# -- with nbtrain's own fit on a spec --------------------------------------------------------------------
def test_real_fit_draws_the_planned_schedule_and_the_slider_scales_what_is_ahead():
    import nbtrain
    from nbtrain.callbacks import Callback
    from nbtrain.optim import lr_curve
    from nbtrain.spec import SchedSpec
    spec = nbtrain.TrainSpec.default()
    spec.sched = SchedSpec("OneCycleLR", params={"max_lr": 0.01})
    d, _ = _dash()

    class Slide(Callback):
        def on_batch_end(self, state, logs):
            if state.step == 5:
                d._w["lr"].value = 0.5
    h = nbtrain.fit(spec, epochs=2, log_every=1, dashboard=d, callbacks=[Slide()], logdir="", checkpoint_dir="",
                    progress=False)
    plan = lr_curve(spec.optim, spec.sched, 2, d.state.steps_per_epoch)
    assert d.plan == plan
    total = len(plan[0])
    ratios = {s["step"]: s["lr"] / plan[0][s["step"]] for s in h.steps if s["step"] < total}
    assert all(r == pytest.approx(1.0) for s, r in ratios.items() if s <= 5)
    assert all(r == pytest.approx(0.5) for s, r in ratios.items() if s >= 7)
    drawn = d._plot.axes[-1].lines[0].get_ydata()              # the plan line, scaled from the slider's step on
    assert drawn[3] == pytest.approx(plan[0][3]) and drawn[-1] == pytest.approx(plan[0][-1] * 0.5)


def test_weight_histograms_panel_is_optional():
    d, _ = _dash(histograms=True)
    mini_fit(callbacks=[d], epochs=1)
    assert set(d.weights) == {"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"}
    assert _pixels(d._w["hist"].value).std() > 20
    plain, _ = _dash()
    mini_fit(callbacks=[plain], epochs=1)
    assert plain.weights == {} and plain._w["hist"].value == b""


def test_public_names():
    import nbtrain
    from nbtrain.background import Run
    from nbtrain.sinks.doctor import Doctor
    assert nbtrain.Dashboard is Dashboard and nbtrain.Run is Run and nbtrain.Doctor is Doctor


def test_a_model_without_convs_has_curves_and_no_image_panels():
    d, _ = _dash()
    mini_fit(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)), callbacks=[d], epochs=1)
    assert d.error is None and d.fmaps == {} and d.kern == {}
    assert list(d._w["fmap_pick"].options) == [] and d._w["fmap"].value == b""
    assert _pixels(d.last_png).std() > 20
