"""The dashboard's layer and insight panels (numbers only, each epoch), the CUDA memory line, and export_html."""
import base64
import json
import re
import types

import numpy as np
import pytest
import torch
from test_dashboard import _dash, _pixels, _received
from tinyfit import mini_fit

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.sinks.dashboard import Dashboard, export_html
from nbtrain.sinks.dashboard.export import page
from nbtrain.sinks.dashboard.feed import numeric
from nbtrain.sinks.layerstats import LayerStats
from nbtrain.sinks.memory import cuda_memory, memory_line
from nbtrain.train.callbacks import Callback, State


class Insight(Callback):
    """Fills the record's validation fields as the loop does, before on_epoch_end (a fake of confusion's part)."""

    def on_validation_end(self, state, logs):
        e = state.epoch
        cm = [[5 + e, 1, 0], [0, 4, 2], [1, 0, 3 + e]]
        h = state.history
        h.confusion.append(cm)
        h.per_class.append({"precision": [0.8, 0.8, float("nan")], "recall": [0.9, 0.6, 0.75], "f1": [0.85, 0.7, 0.6],
                            "support": [6 + e, 6, 4 + e]})
        h.top_losses = [{"index": 3, "loss": 2.5 - e, "true": 0, "pred": 2}, {"index": 7, "loss": 1.0, "true": 1,
                                                                              "pred": 1}]
        h.class_names = ["a", "b", "c"]
        h.validations += 1


class Wire(Callback):
    """``state.callbacks`` made these (the sinks find one another there)."""

    def __init__(self, *callbacks):
        self.callbacks = [self, *callbacks]

    def on_fit_start(self, state):
        state.callbacks = self.callbacks


def _run(epochs=2, **kw):
    d, clock = _dash(every=0.0)
    stats = LayerStats(every=2)
    state = mini_fit(callbacks=Wire(Insight(), stats, d).callbacks, epochs=epochs, log_every=2,
                     step_hook=lambda s: setattr(clock, "t", clock.t + 0.1), **kw)
    return d, stats, state


def test_layer_rows_and_the_insight_travel_as_numbers_each_once():
    d, stats, state = _run()
    sent = d.log["sent"]
    assert _received(sent, "layers") == stats.rows and len(stats.rows) == 6     # each log point once, in order
    assert _received(sent, "acts") == stats.acts and [a["epoch"] for a in stats.acts] == [1, 2]
    assert d.log["views"][0].widget.meta["layers"] == {"grad": ["0 Conv2d", "3 Conv2d", "6 Linear"],
                                                       "act": ["1 ReLU", "4 ReLU"]}
    insights = [m["insight"] for m in sent if m.get("insight")]
    assert [i["epoch"] for i in insights] == [1, 2]                              # replaced whole, once per epoch
    last = insights[-1]
    assert last["kind"] == "classification" and last["confusion"] == [[6, 1, 0], [0, 4, 2], [1, 0, 4]]
    assert last["per_class"]["precision"] == [0.8, 0.8, None]                    # NaN: JSON has none
    assert last["names"] == ["a", "b", "c"] and [t["index"] for t in last["top"]] == [3, 7]
    json.dumps(sent, allow_nan=False)                                            # every message is plain JSON


def test_on_epochs_shorter_than_every_the_panels_are_taken_at_the_first_the_due_and_the_last_epoch():
    """Feature maps and the insight panel cost a probe forward and thumbnails per epoch end: on epochs shorter than
    the update period the browser would never see most of them, so they are taken only when due, the first and
    last epoch always, and a stop asked after the dashboard's epoch end is caught up at the run's end."""
    d, clock = _dash(every=0.5)
    taken = []
    d._gather = lambda st, _g=d._gather: (taken.append(st.epoch + 1), _g(st))
    mini_fit(callbacks=Wire(Insight(), d).callbacks, epochs=5, log_every=2,     # 6 steps x 0.1 s an epoch:
             step_hook=lambda s: setattr(clock, "t", clock.t + 0.1 / 6))       # 0.1 s epochs
    assert taken == [1, 5]
    assert d.insight["epoch"] == 5 and [m["insight"]["epoch"] for m in d.log["sent"] if m.get("insight")][-1] == 5

    class StopAt2(Callback):                       # after the dashboard: its epoch end skipped the panels
        def on_epoch_end(self, state, logs):
            if state.epoch == 1:
                state.request_stop("enough")
    d, clock = _dash(every=0.5)
    taken = []
    d._gather = lambda st, _g=d._gather: (taken.append(st.epochs_done), _g(st))
    mini_fit(callbacks=Wire(Insight(), d, StopAt2()).callbacks, epochs=5, log_every=2,
             step_hook=lambda s: setattr(clock, "t", clock.t + 0.1 / 6))
    assert taken == [1, 2] and d.insight["epoch"] == 2


def test_top_loss_thumbnails_are_the_validation_images_scaled_to_their_range():
    d, _, state = _run(epochs=1)
    thumbs = d.insight["thumbs"]
    assert sorted(thumbs) == ["3", "7"]
    x = state.val_loader.dataset[3][0][0]
    want = ((x - x.min()) / (x.max() - x.min()) * 255).round().to(torch.uint8).numpy()
    t = thumbs["3"]
    got = np.frombuffer(base64.b64decode(t["data"]), np.uint8).reshape(t["h"], t["w"])
    assert (t["c"], t["h"], t["w"]) == (1, 8, 8) and (got == want).all()


def test_a_run_without_layer_stats_or_validation_insight_sends_no_panel_data():
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=1, val=False)
    assert d.log["views"][0].widget.meta["layers"] is None
    assert all(not m.get("insight") and not m.get("layers") and not m.get("acts") for m in d.log["sent"])


def test_regression_residuals_are_sent_as_points():
    h = nbtrain.History()
    h.confusion, h.residuals = [], {"true": [float(i) for i in range(5000)], "pred": [1.0] * 5000}
    d, _ = _dash()
    st = types.SimpleNamespace(history=h, val_loader=None, epoch=0)
    d._gather(st)
    assert d.insight["kind"] == "regression" and len(d.insight["true"]) == 1667 and d.insight["true"][:2] == [0, 3]


def test_no_figure_is_drawn_while_live_with_every_panel_on(monkeypatch, drawing_calls):
    calls = drawing_calls
    during = []

    class Count(Callback):
        def on_epoch_end(self, state, logs):
            during.append(len(calls))
    d, clock = _dash(every=0.0, histograms=True)
    stats = LayerStats(every=2)
    mini_fit(callbacks=Wire(Insight(), stats, d, Count()).callbacks, epochs=3, log_every=2,
             step_hook=lambda s: setattr(clock, "t", clock.t + 0.1))
    assert during == [0, 0, 0] and d.insight["thumbs"] and stats.acts
    assert _pixels(d.last_png).std() > 20                                        # the one PNG, at the end


def _fake_cuda(monkeypatch):
    gib = 2 ** 30
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: int(1.2 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d=None: 512 * 2 ** 20 + 2 * gib)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 3 * gib)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda d=None: types.SimpleNamespace(total_memory=int(79.19 * gib)))


def test_the_memory_line_on_cuda_and_nothing_on_cpu(monkeypatch):
    d, _ = _dash()
    mini_fit(callbacks=[d], epochs=1)
    assert d.head()["memory"] == "" and all(m["memory"] == "" for m in d.log["sent"])     # CPU: nothing
    _fake_cuda(monkeypatch)
    assert d.head()["memory"] == ""                                             # the run is on the CPU still
    d.state.device = torch.device("cuda", 0)
    line = "GPU memory 1.20 GiB allocated · 2.50 GiB reserved · peak 3.00 GiB of 79.19 GiB"
    assert d.head()["memory"] == line == memory_line(cuda_memory("cuda"))
    from nbtrain.sinks.progress import gpu_postfix
    assert gpu_postfix(torch.device("cuda", 0)) == {"gpu": "1.2/3.0/79G"} and gpu_postfix(torch.device("cpu")) == {}
    assert memory_line({"allocated": 300 * 2 ** 20, "reserved": 2 ** 29, "peak": 2 ** 29, "total": 2 ** 34}) == (
        "GPU memory 300 MiB allocated · 512 MiB reserved · peak 512 MiB of 16.00 GiB")


def _data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="nbtrain-data">(.*?)</script>', html, re.S)
    return json.loads(m[1])


def test_export_html_of_a_dashboard_holds_everything_inline(tmp_path):
    d, stats, _ = _run()
    path = d.export_html(tmp_path / "run.html")
    html = path.read_text()
    data = _data(html)
    msg = data["message"]
    assert msg["steps"] == [0, [numeric(r) for r in d.record.steps]] and msg["layers"] == [0, stats.rows]
    assert msg["final"] is True and stats.rows is d.record.layer_rows                # one store
    assert msg["insight"]["confusion"] == [[6, 1, 0], [0, 4, 2], [1, 0, 4]]
    assert data["traits"]["meta"]["static"] is True and data["traits"]["meta"]["layers"]["act"] == ["1 ReLU", "4 ReLU"]
    assert html.count("<script") == 2 and "const NBTRAIN_WIDGET = {" in html and "export default" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "@import" not in html
    assert "function drawLayers" in html and ".nbtrain-layer-strip" in html     # the front end and its CSS inline


@pytest.mark.filterwarnings("ignore:the first training batch has mean")     # synthetic images, not normalized
def test_export_html_of_a_history_and_of_a_background_run_has_the_spec_and_its_code(tmp_path):
    spec = nbtrain.TrainSpec.default()
    spec.data.dataset, spec.data.size, spec.data.image_shape = "synthetic", 64, [1, 28, 28]
    spec.data.train_transforms, spec.data.val_transforms = [], []
    run = nbtrain.fit(spec, epochs=1, log_every=1, logdir="", checkpoint_dir="", progress=False, dashboard=False,
                      background=True)
    h = run.wait(120)
    path = run.export_html(tmp_path / "bg.html")
    html = path.read_text()
    assert "<summary>spec (JSON)</summary>" in html and "<summary>code (plain PyTorch)</summary>" in html
    assert "torch.optim.Adam(" in html and '&quot;dataset&quot;: &quot;synthetic&quot;' in html
    msg = _data(html)["message"]
    assert [r["step"] for r in msg["steps"][1]] == [r["step"] for r in h.steps] and msg["layers"][1]
    hist = export_html(h, tmp_path / "h.html").read_text()
    data = _data(hist)
    assert [e["loss"] for e in data["message"]["epochs"][1]] == pytest.approx(h["loss"])
    assert data["message"]["status"] == f"1 epoch · step {len(h.steps)} · finished"
    assert "<summary>spec (JSON)</summary>" not in hist                          # a History alone has no spec


def test_export_html_bad_paths_say_how_to_fix(tmp_path):
    d, _, _ = _run(epochs=1)
    with pytest.raises(NbtrainError) as e:
        d.export_html(tmp_path / "run.png")
    bad = tmp_path / "run.png"
    assert str(e.value) == f"export_html(path): {bad} does not end in .html (give a path such as 'run.html')"
    with pytest.raises(NbtrainError) as e:
        export_html(d, tmp_path / "nope" / "run.html")
    assert str(e.value) == (f"export_html(path): the folder {tmp_path / 'nope'} does not exist (create it first, or "
                            "give a path in an existing folder)")
    with pytest.raises(NbtrainError) as e:
        page(42)
    assert str(e.value) == ("export_html(source): cannot export a int (pass what fit() returned (a History or a "
                            "background Run) or a Dashboard)")


def test_the_export_button_writes_the_file_and_says_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d, _, state = _run(epochs=1)
    view = d.done_view
    d.log["views"][0].widget._handle_custom_msg({"t": "export"}, [])
    saved = tmp_path / f"{state.run_name}.html"                                  # named after the run
    assert d.saved == f"saved {saved}" and saved.is_file()
    assert d.log["sent"][-1] == {"t": "saved", "text": d.saved} and view is d.log["views"][0]


def test_public_names():
    assert nbtrain.export_html is export_html and nbtrain.LayerStats is LayerStats and Dashboard is nbtrain.Dashboard
    assert isinstance(State().callbacks, list)


@pytest.mark.parametrize("steps, extent", [([4], (3.5, 4.5)), ([0, 10, 20], (-5.0, 25.0))])
def test_the_layer_strip_centres_each_column_on_its_step(steps, extent, recwarn):
    """The end-of-run picture's layer strip: one column per log point, centred on its step (a single log point used to
    give matplotlib a zero-width extent and its 'identical low and high xlims' warning)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from nbtrain.sinks.dashboard.picture import layer_panel
    run = types.SimpleNamespace(layer_names=["0 Linear", "2 Linear"],
                                layer_rows=[{"step": s, "grad": [0.1, 0.001]} for s in steps])
    ax = Figure().add_subplot()
    layer_panel(ax, run, {"cmap": "viridis"}, lambda key, **kw: key)
    assert ax.images[0].get_extent() == pytest.approx([*extent, 1.5, -0.5])
    assert ax.images[0].get_array()[:, 0].tolist() == pytest.approx([-1.0, -3.0])       # log10 of the gradient norms
    assert not [w for w in recwarn if "xlims" in str(w.message)]
