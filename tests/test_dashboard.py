"""The Dashboard sink driven by fit() on a tiny model (no kernel): what it sends the browser, when, and what it leaves.

Clicks are delivered as the front end delivers them: a custom message on the widget's comm (``_handle_custom_msg``).
"""
import base64
import io
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from tinyfit import mini_fit
from torch.optim import lr_scheduler as S

from nbtrain import viz
from nbtrain.build.optim import Schedule
from nbtrain.sinks.dashboard import Dashboard, feed
from nbtrain.sinks.dashboard.view import WIDGET_VIEW, LiveView, follow_frontend
from nbtrain.spec import SchedSpec
from nbtrain.train.callbacks import Callback


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Handle:
    """A DisplayHandle that keeps what update() sent."""
    def __init__(self):
        self.updates = []

    def update(self, obj, raw=False):
        self.updates.append((obj, raw))


def _dash(**kw):
    """A widgets dashboard on a fake clock whose views record what they send (``d.log``) and display nowhere."""
    clock, log = Clock(), {"sent": [], "views": []}

    def make(on_message, meta=None):
        view = LiveView(on_message, meta)
        view.sent, view.display = log["sent"], lambda: setattr(view, "handle", Handle())
        log["views"].append(view)
        return view
    d = Dashboard(mode="widgets", clock=clock, view=make, **kw)
    d.log = log
    return d, clock


def click(d, **content):
    d.view.widget._handle_custom_msg(content, [])          # what ipywidgets calls for a comm's custom message


def _pixels(png: bytes):
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))


def _received(sent, key):
    """Rebuild a list as the browser does from [from, rows] parts (a gap would be a bug)."""
    out = []
    for m in sent:
        if key in m:
            start, rows = m[key]
            assert start == len(out), (key, start, len(out))
            out += rows
    return out


def test_text_mode_prints_one_line_per_epoch():
    out = io.StringIO()
    state = mini_fit(callbacks=[Dashboard(mode="text", out=out)], epochs=2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for i, (line, logs) in enumerate(zip(lines, state.history.epochs)):
        assert line.startswith(f"epoch {i + 1}/2  step {6 * (i + 1)}  loss {logs['loss']:.4g}  accuracy "
                               f"{logs['accuracy']:.4g}  lr 0.05  val_loss {logs['val_loss']:.4g}  "
                               f"val_accuracy {logs['val_accuracy']:.4g}  (")


def test_updates_go_by_wall_clock_and_carry_only_what_is_new():
    d, clock = _dash(every=0.5)
    state = mini_fit(callbacks=[d], epochs=2, step_hook=lambda s: setattr(clock, "t", clock.t + 0.125))
    sent = d.log["sent"]                                   # 8 steps a second: an update every 4 of the 12 steps
    live, final = sent[:-1], sent[-1]
    assert len(live) == 3 and final["final"] is True                 # steps 4, 8, 12; then the end
    assert [m["progress"] for m in live] == [[4, 12], [8, 12], [12, 12]]
    steps = _received(sent, "steps")
    assert [r["step"] for r in steps] == [2, 4, 6, 8, 10, 12]         # each log point once, in order
    assert [r["loss"] for r in steps] == pytest.approx([r["loss"] for r in d.record.steps])
    epochs = _received(sent, "epochs")
    assert [e["val_loss"] for e in epochs] == pytest.approx([h["val_loss"] for h in state.history.epochs])
    assert [r[0] for r in _received(sent, "lr")] == [0, 2, 4, 6, 8, 10, 12]
    assert "plan" in live[0] and all("plan" not in m for m in sent[1:])   # sent again only when it changes
    vals = [h["val_loss"] for h in state.history.epochs]
    m = re.fullmatch(r"epoch 2/2 · step 12/12 · (\d+) samples/s · ETA 0:00 · best val_loss ([\d.]+) \(epoch (\d)\)",
                     final["status"])
    assert m, final["status"]
    assert int(m[1]) == round(12 * 8 / 1.5) and float(m[2]) == pytest.approx(min(vals), abs=1e-4)
    assert int(m[3]) == int(np.argmin(vals)) + 1


def test_no_figure_is_drawn_and_no_png_encoded_while_the_run_is_live(monkeypatch, drawing_calls):
    calls = drawing_calls
    d, clock = _dash(every=0.0, histograms=True)               # an update at every batch end: the worst case
    during = []

    class Count(Callback):
        def on_epoch_end(self, state, logs):
            during.append(len(calls))
    mini_fit(callbacks=[d, Count()], epochs=3, step_hook=lambda s: setattr(clock, "t", clock.t + 0.1))
    assert during == [0, 0, 0] and len(d.log["sent"]) >= 18          # numbers went out at every step
    assert "FigureCanvasAgg.draw" in calls and ("Image.save" in calls or "Figure.savefig" in calls)  # the final PNG
    assert _pixels(d.last_png).std() > 20


def test_tiles_are_the_feature_maps_and_kernels_as_uint8():
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=1)
    images = d.images
    assert list(images["fmap"]) == list(images["kern"]) == ["0", "3"]
    t = images["fmap"]["3"]
    grid = viz.feature_grid(d.fmaps["3"])
    want = (grid[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    got = np.frombuffer(base64.b64decode(t["data"]), np.uint8).reshape(t["h"], t["w"])
    assert (t["c"], t["h"], t["w"]) == (1, *want.shape) and (got == want).all()
    assert d.fmaps["3"].shape == (1, 6, 4, 4) and d.kern["3"].shape == (6, 4, 3, 3)
    k = images["kern"]["0"]
    assert (k["c"], k["h"], k["w"]) == (1, *viz.kernel_grid(d.kern["0"]).shape[1:])


def test_the_end_keeps_the_widget_and_adds_the_final_png_to_the_display():
    d, _ = _dash()
    state = mini_fit(callbacks=[d], epochs=3, step_hook=lambda s: s.step == 4 and click(d, t="stop"))
    [view] = d.log["views"]
    assert state.stop_reason == "stopped by you" and state.step == 4
    assert view.widget.final_status == d.status_text() and view.widget.final == "ended"     # the controls go off
    assert d.status_text().startswith("epoch 1/3 · step 4/18 · ") and d.status_text().endswith("stopped: stopped by you")
    assert _pixels(d.last_png).std() > 20
    [(bundle, raw)] = view.handle.updates      # the widget's view stays first; the PNG is what a saved notebook shows
    assert raw and bundle["text/plain"] == d.status_text() and base64.b64decode(bundle["image/png"]) == d.last_png
    assert bundle[WIDGET_VIEW]["model_id"] == view.widget.model_id
    assert d.view is None                                  # a next fit shows a fresh one


def test_a_dark_page_said_after_the_end_redraws_the_final_picture_dark_once():
    """The page says its theme when it renders; a short run on a busy kernel can end before that message is handled.
    The final picture in the cell (what a saved notebook keeps) then follows the theme, once; the same theme again
    redraws nothing."""
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=1)
    [view] = d.log["views"]
    light = d.last_png
    assert _pixels(light).mean() > 128 and len(view.handle.updates) == 1         # drawn light: no theme said yet
    view.widget._handle_custom_msg({"t": "theme", "dark": True}, [])
    assert _pixels(d.last_png).mean() < 128 and len(view.handle.updates) == 2    # drawn again, dark, in the cell
    assert base64.b64decode(view.handle.updates[-1][0]["image/png"]) == d.last_png
    view.widget._handle_custom_msg({"t": "theme", "dark": True}, [])
    assert len(view.handle.updates) == 2


def test_the_final_figure_fits_the_x_axis_to_the_data_not_the_plan():
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=3, step_hook=lambda s: s.step == 4 and click(d, t="stop"))
    for ax in d.figure.nbtrain_axes["metrics"] + [d.figure.nbtrain_axes["lr"]]:    # one x-range for all of them
        lo, hi = ax.get_xlim()
        assert lo == 0 and hi == pytest.approx(4 * 1.02)   # 4 steps done of 18 planned
    assert d.view is None and d.meta()["total"] == 18      # the planned extent is sent as a number (a marker)


def test_stop_click_stops_within_one_batch():
    d, _ = _dash()
    state = mini_fit(callbacks=[d], epochs=3, step_hook=lambda s: s.step == 4 and click(d, t="stop"))
    assert state.step == 4 and state.stop_reason == "stopped by you"
    assert d.status_text().endswith("stopped: stopped by you")


def test_pause_click_toggles_the_shared_control_and_says_so():
    d, _ = _dash()
    d.show()
    click(d, t="pause")
    assert d.control.paused and d.log["sent"][-1]["paused"] is True
    click(d, t="pause")
    assert not d.control.paused and d.log["sent"][-1]["paused"] is False


def test_a_pause_counts_in_neither_the_rate_nor_the_eta():
    import threading
    d, clock = _dash()

    def resume_later():
        d.control.blocked.wait(10)
        clock.t += 600.0                                    # ten minutes paused
        click(d, t="pause")

    def tick(state):
        clock.t += 0.125
        if state.step == 6:
            click(d, t="pause")                             # the loop blocks after this batch
            threading.Thread(target=resume_later, daemon=True).start()
    mini_fit(callbacks=[d], epochs=2, step_hook=tick)
    assert d.control.paused_seconds() == 600.0
    assert " · 64 samples/s · " in d.status_text()          # 12 steps of 8 samples in 1.5 s of training


def test_nan_is_said_once_in_the_dashboard_and_not_again_as_a_warning():
    from nbtrain.sinks.doctor import Doctor
    d, _ = _dash()
    with warnings.catch_warnings(record=True) as rec:     # fit's own NaN guard says it
        warnings.simplefilter("always")
        state = mini_fit(callbacks=[Doctor(), d], lr=1e6, epochs=1)
    rec = [str(w.message) for w in rec if "the loss" in str(w.message)]
    notes = _received(d.log["sent"], "notes")
    # the doctor first says the loss explodes (a cross-entropy of 1e15 before it overflows), then the guard the NaN
    assert len(notes) == 2 and re.match(r"the loss is \S+ at step \d+, a cross-entropy above 50", notes[0])
    assert re.fullmatch(r"step \d+: the loss became (nan|inf) \(lower the learning rate, "
                        r"e\.g\. lr=100000, or set grad_clip=1\.0\)", notes[1])
    assert state.notes == notes and rec == []


def test_lr_slider_scales_every_group_from_the_next_step_and_the_plan_ahead():
    d, _ = _dash()
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 64, 3))
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.1}, {"params": model[3].parameters()}], lr=0.2)
    sched = Schedule(SchedSpec(interval="step"), opt, 2, 6, scheduler=S.StepLR(opt, step_size=4, gamma=0.5))
    plan = [[0.1 * 0.5 ** (t // 4) for t in range(12)], [0.2 * 0.5 ** (t // 4) for t in range(12)]]
    seen = {}

    def hook(state):
        seen[state.step] = [g["lr"] for g in opt.param_groups]
        if state.step == 5:
            click(d, t="lr", value=0.1)

    class PutPlan(Callback):
        def on_fit_start(self, state):
            state.history.lr_plan = plan
    mini_fit(model=model, callbacks=[PutPlan(), d], optimizer=opt, scheduler=sched, epochs=2, step_hook=hook)
    assert seen[5] == pytest.approx([p[5] for p in plan])
    for t in range(6, 12):                                  # lr after t steps is the one used for step t + 1
        assert seen[t] == pytest.approx([p[t] * 0.1 for p in plan])
    sent_plan = [m["plan"] for m in d.log["sent"] if "plan" in m][-1]
    assert sent_plan["x"] == list(range(12))
    assert sent_plan["y"][1][4] == pytest.approx(plan[1][4]) and sent_plan["y"][1][6] == pytest.approx(plan[1][6] * 0.1)
    planned = d.figure.nbtrain_axes["lr"].lines[0].get_ydata()
    assert planned[4] == pytest.approx(plan[0][4]) and planned[11] == pytest.approx(plan[0][11] * 0.1)


def test_a_rerun_sends_the_curves_of_the_earlier_run():
    feed.PAST.clear()
    d, _ = _dash()
    first_run = mini_fit(callbacks=[d], epochs=1)
    first = [r["loss"] for r in d.record.steps]
    mini_fit(callbacks=[d], epochs=1, lr=0.01)
    past = d.log["views"][-1].widget.meta["past"]
    assert len(past) == 1 and [r["loss"] for r in past[0]["steps"]] == pytest.approx(first)
    assert past[0]["label"] == first_run.run_name != ""         # the legend names it by its run name


def test_an_earlier_run_on_other_data_is_not_overlaid():
    feed.PAST.clear()
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=1)                                    # 8x8 blobs
    g = torch.Generator().manual_seed(1)
    other = mini_fit(callbacks=[d], epochs=1, x=torch.randn(24, 1, 8, 8, generator=g), y=torch.arange(24) % 3)
    assert d.log["views"][-1].widget.meta["past"] == []                 # another dataset: no faint curves
    mini_fit(callbacks=[d], epochs=1, x=torch.randn(24, 1, 8, 8, generator=g), y=torch.arange(24) % 3)
    assert [p["label"] for p in d.log["views"][-1].widget.meta["past"]] == [other.run_name]   # same data: overlaid


def test_follow_frontend_keeps_the_subshell_the_click_came_on():
    """ipykernel 7.4 routes a comm message to the subshell its comm last published from: for a widget a
    foreground cell showed, the busy main shell (None). Ours keeps the front end's choice."""
    comm = _comm()
    comm._reply_subshell_id = None                          # published from the main shell (a running cell)
    assert comm._reply_subshell_for({}, "subshell-1") is None       # the bug: queued behind the cell
    assert follow_frontend(comm)
    assert comm._reply_subshell_for({}, "subshell-1") == "subshell-1"
    assert comm._reply_subshell_for({}, None) is None


def _comm():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ipykernel.comm import Comm
        return Comm(target_name="x")


def test_real_fit_sends_the_planned_schedule_and_the_slider_scales_what_is_ahead():
    import nbtrain
    from nbtrain.build.optim import lr_curve
    from nbtrain.spec import SchedSpec
    spec = nbtrain.TrainSpec.default()
    spec.sched = SchedSpec("OneCycleLR", params={"max_lr": 0.01})
    d, _ = _dash()

    class Slide(Callback):
        def on_batch_end(self, state, logs):
            if state.step == 5:
                click(d, t="lr", value=0.5)
    h = nbtrain.fit(spec, epochs=2, log_every=1, dashboard=d, callbacks=[Slide()], logdir="", checkpoint_dir="",
                    progress=False)
    plan = lr_curve(spec.optim, spec.sched, 2, d.state.steps_per_epoch)
    assert d.record.lr_plan == plan
    total = len(plan[0])
    ratios = {s["step"]: s["lr"] / plan[0][s["step"]] for s in h.steps if s["step"] < total}
    assert all(r == pytest.approx(1.0) for s, r in ratios.items() if s <= 5)
    assert all(r == pytest.approx(0.5) for s, r in ratios.items() if s >= 7)
    drawn = d.figure.nbtrain_axes["lr"].lines[0].get_ydata()          # the plan line, scaled from the slider's step on
    assert drawn[3] == pytest.approx(plan[0][3]) and drawn[-1] == pytest.approx(plan[0][-1] * 0.5)


def test_weight_histograms_are_counts():
    d, _ = _dash(histograms=True)
    mini_fit(callbacks=[d], epochs=1)
    hist = d.images["hist"]
    assert [h["name"] for h in hist] == ["0.weight", "3.weight", "6.weight"]
    assert sum(hist[0]["counts"]) == d.weights["0.weight"].numel() == 36
    plain, _ = _dash()
    mini_fit(callbacks=[plain], epochs=1)
    assert plain.weights == {} and plain.images["hist"] == []


def test_public_names():
    import nbtrain
    from nbtrain.sinks.doctor import Doctor
    from nbtrain.train.background import Run
    assert nbtrain.Dashboard is Dashboard and nbtrain.Run is Run and nbtrain.Doctor is Doctor


def test_a_model_without_convs_sends_no_tiles_and_still_ends_with_curves():
    d, _ = _dash()
    mini_fit(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)), callbacks=[d], epochs=1)
    assert d.error is None and d.fmaps == {} and d.kern == {}
    assert d.images == {"fmap": {}, "kern": {}, "hist": []}
    assert (_pixels(d.last_png) < 128).mean() > 0.003                  # curves and text drawn, not a blank frame
    assert [ax.get_ylabel() for ax in d.figure.nbtrain_axes["metrics"]] == ["loss", "accuracy"]


def test_a_background_run_sends_nothing_from_its_thread_and_answers_the_page_after_the_end():
    """delivery.py: what the page gets comes from the thread of its requests; after the end it gets the final
    picture and whatever ``after_end`` re-sends (the Workbench's Train tab)."""
    import threading
    d, clock = _dash(every=0.0)
    d.background, again, resent = True, [], []
    d.after_end.append(lambda: again.append(threading.current_thread().name))
    d.show()
    run = threading.Thread(target=lambda: mini_fit(callbacks=[d], epochs=2), name="nbtrain-fit")
    run.start()
    run.join(60)
    d.done_view.widget.send_state = lambda keys=None: resent.append(keys)
    assert d.log["sent"] == [] and d.meta()["ask"] == 0.0 and d.done_view is not None   # the page never asked
    d.done_view.widget._handle_custom_msg({"t": "ask"}, [])  # the page asks (here the main thread answers)
    assert resent == [["final_status", "final"]] and again == ["MainThread"]
    assert base64.b64decode(d.done_view.handle.updates[-1][0]["image/png"]) == d.last_png   # the picture again
    assert d.done_view.widget.final == "ended"



def test_the_status_lines_rate_counts_the_steps_since_the_records_start_step_over_the_controls_clock():
    """text.py reads no private field of the Dashboard: the step a (resumed) fit started at is the record's, the
    training time the Control's (its clock, pauses left out)."""
    from types import SimpleNamespace

    from nbtrain.sinks.control import Control
    from nbtrain.sinks.dashboard import text
    from nbtrain.train.history import History
    record, now = History(), [100.0]
    state = SimpleNamespace(epoch=1, epochs=4, step=20, steps_per_epoch=20, train_loader=SimpleNamespace(batch_size=8),
                            stop_reason="", history=record, run_name="r", val_loader=None, optimizer=None)
    record.on_fit_start(state)                               # resumed at step 20
    control = Control(clock=lambda: now[0])
    control.on_fit_start(state)
    state.step, now[0] = 30, 110.0                            # 10 steps in 10 s
    dash = SimpleNamespace(state=state, control=control)      # no _t0, no _start_step
    assert record.start_step == 20
    assert text.status_text(dash) == "epoch 2/4 · step 30/80 · 8 samples/s · ETA 0:50"
    assert text.epoch_line(dash, state, {"epoch": 2, "loss": 0.5}) == "epoch 2/4  loss 0.5  (10.0s)"
