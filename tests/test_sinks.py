import io
import math
import re

import pytest
import torch
from loop_fixtures import InterruptAt, tiny_cnn, tiny_data
from torch import nn

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.sinks.early_stop import EarlyStopping
from nbtrain.sinks.progress import ProgressBar
from nbtrain.train.callbacks import Callback, State


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _two_group_model_and_opt():
    model = tiny_cnn()
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01},
                           {"params": [p for m in list(model)[1:] for p in m.parameters()], "lr": 0.05}])
    return model, opt


def test_tensorboard_logs_read_back(tmp_path):
    model, opt = _two_group_model_and_opt()
    tr, va = tiny_data()
    h = nbtrain.fit(model=model, train=tr, val=va, optimizer=opt, epochs=2, log_every=2, logdir=str(tmp_path),
                    run_name="r", progress=False)
    acc = _events(tmp_path / "r")
    tags = acc.Tags()
    assert {"train/loss", "train/accuracy", "lr/group_0", "lr/group_1", "epoch/loss", "epoch/accuracy",
            "epoch/val_loss", "epoch/val_accuracy", "hparam/val_loss", "hparam/val_accuracy"} <= set(tags["scalars"])
    val = acc.Scalars("epoch/val_loss")
    assert [e.step for e in val] == [1, 2]
    assert [e.value for e in val] == pytest.approx(h["val_loss"], rel=1e-6)
    assert [e.step for e in acc.Scalars("train/loss")] == [s["step"] for s in h.steps]
    assert [e.value for e in acc.Scalars("lr/group_1")][0] == pytest.approx(0.05)
    assert acc.Scalars("hparam/val_loss")[0].value == pytest.approx(h.epochs[-1]["val_loss"], rel=1e-6)
    names = [n for n, _ in model.named_parameters()]
    assert {f"weights/{n}" for n in names} | {f"grads/{n}" for n in names} <= set(tags["histograms"])
    hv = acc.Histograms("weights/0.weight")[-1]
    w = model[0].weight.detach()
    assert hv.step == 2 and hv.histogram_value.num == w.numel()
    assert (hv.histogram_value.min, hv.histogram_value.max) == pytest.approx((w.min().item(), w.max().item()))
    assert sum(hv.histogram_value.bucket) == w.numel()
    assert {"features/0", "kernels/0"} <= set(tags["images"])
    fm = acc.Images("features/0")[-1]
    assert (fm.width, fm.height) == (2 * 7 + 1, 2 * 7 + 1)    # 4 channels of 6x6 in a 2x2 grid, padding 1
    assert tags["graph"] is True
    # hparams in the same run directory, with the run's settings
    from tensorboard.plugins.hparams import plugin_data_pb2
    content = acc.PluginTagToContent("hparams")
    info = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = info.session_start_info.hparams
    assert hp["optimizer"].string_value == "SGD" and hp["epochs"].number_value == 2


def test_tensorboardx_checksums_events_natively():
    """The crc32c dependency: tensorboardX falls back to a pure-Python CRC (0.3 ms per KB of images and histograms,
    holding the GIL in its writer thread while the loop trains) when it is missing."""
    from tensorboardX import crc32c
    assert crc32c._crc32c_native is not None
    assert crc32c.crc32c(b"123456789") == crc32c._crc32c(b"123456789") == 0xE3069283   # RFC 3720's check value


def test_tensorboard_writes_the_spec_as_text(tmp_path):
    from nbtrain.sinks.tensorboard import TensorBoard
    from nbtrain.spec import TrainSpec
    spec = TrainSpec.default()
    tb = TensorBoard(tmp_path / "r", graph=False)
    tb.on_fit_start(State(model=tiny_cnn(), spec=spec))
    tb.writer.close()
    acc = _events(tmp_path / "r")
    assert "spec/text_summary" in acc.Tags()["tensors"]
    text = acc.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"dataset": "digits"' in text


def test_untraceable_model_warns_and_still_trains(tmp_path):
    class NoTrace(nn.Module):
        def forward(self, x):
            if torch.jit.is_tracing():
                raise RuntimeError("cannot trace this")
            return x

    tr, va = tiny_data()
    model = nn.Sequential(NoTrace(), *tiny_cnn())
    with pytest.warns(RuntimeWarning, match=r"TensorBoard: the model graph could not be traced \(cannot trace this\)"):
        h = nbtrain.fit(model=model, train=tr, val=va, epochs=1, logdir=str(tmp_path), run_name="r", progress=False)
    assert len(h.epochs) == 1 and "epoch/val_loss" in _events(tmp_path / "r").Tags()["scalars"]


def test_logdir_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    tr, va = tiny_data()
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=tiny_cnn(), train=tr, logdir=str(blocker / "runs"), run_name="r", progress=False)
    assert str(e.value) == f"loop.logdir: cannot write to '{blocker}/runs/r' (Not a directory) (choose a folder you can write to)"


def test_progress_bar_text():
    import tqdm
    out = io.StringIO()
    tr, va = tiny_data()
    nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=2, dashboard=ProgressBar(file=out, tqdm_class=tqdm.tqdm))
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "5/5" in text and "val_loss=" in text


def test_the_progress_bar_shows_the_records_newest_rows_since_its_last_read():
    """The bar reads the run record, not the hooks' logs: rows a resumed record held before are not new, the newest
    row since the last read is shown (also one appended between two log points), and the stop reason is the record's."""
    import tqdm

    from nbtrain.train.history import History
    out, h = io.StringIO(), History(steps=[{"step": 1, "loss": 9.0}], epochs=[{"epoch": 1, "val_loss": 9.5}])
    st = State(model=tiny_cnn(), history=h, epochs=2, steps_per_epoch=4)
    bar = ProgressBar(file=out, tqdm_class=tqdm.tqdm, mininterval=0)
    bar.on_fit_start(st)
    st.epoch = 1
    bar.on_epoch_start(st)
    bar.on_log(st, {"loss": 7.0})                      # nothing new in the record: the logs are not read
    assert bar.bar.postfix is None
    h.steps += [{"step": 2, "loss": 0.5}, {"step": 3, "loss": 0.25, "lr": 0.1}]
    bar.on_log(st, {})
    assert bar.bar.postfix == "loss=0.25"
    h.epochs.append({"epoch": 2, "loss": 0.3, "val_loss": 0.125, "lr": 0.1, "lr_1": 0.2})
    bar.on_epoch_end(st, {})
    h.stop_reason = "early stopping: val_loss did not improve"
    bar.on_fit_end(st)
    text = out.getvalue()
    assert "val_loss=0.125" in text and "lr=0.1" in text and "lr_1" not in text and "9.5" not in text, text
    assert text.endswith("stopped: early stopping: val_loss did not improve\n")


def test_a_resumed_epochs_progress_bar_goes_on_from_the_batch_it_stopped_at(tmp_path):
    import tqdm

    tr, va = tiny_data()                                        # 5 batches an epoch
    nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=1, callbacks=[InterruptAt(3)], checkpoint_dir=str(tmp_path),
                run_name="r", progress=False)
    out = io.StringIO()
    tr, va = tiny_data()
    nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=1, resume=tmp_path / "r" / "interrupted.pt",
                dashboard=ProgressBar(file=out, tqdm_class=tqdm.tqdm, mininterval=0))
    counts = [int(m) for m in re.findall(r"\| (\d)/5 \[", out.getvalue())]
    assert counts[0] == 0 and 4 in counts and counts[-1] == 5 and 1 not in counts and 2 not in counts, out.getvalue()


def test_early_stopping_stops_and_restores_best_weights():
    snap = {}

    class Snap(Callback):
        def on_epoch_end(self, state, logs):
            snap[logs["epoch"]] = {k: v.clone() for k, v in state.model.state_dict().items()}

    tr, va = tiny_data()
    model = tiny_cnn()
    # min_delta so large that nothing after epoch 1 counts as an improvement
    h = nbtrain.fit(model=model, train=tr, val=va, epochs=10, early_stopping=2, min_delta=100.0, callbacks=[Snap()],
                    progress=False)
    assert len(h.epochs) == 3
    assert h.stop_reason == f"early stopping: val_loss did not improve for 2 epochs (best {h.epochs[0]['val_loss']:.4g} at epoch 1)"
    assert all(torch.equal(v, snap[1][k]) for k, v in model.state_dict().items())


def test_early_stopping_max_mode_unit():
    es = EarlyStopping("val_accuracy", "max", patience=1, restore_best=False)
    st = State(model=tiny_cnn())
    for e, v in enumerate([0.5, 0.6, 0.6]):
        st.epoch = e
        es.on_epoch_end(st, {"epoch": e + 1, "val_accuracy": v})
    assert st.should_stop and es.best == 0.6 and es.best_epoch == 2


@pytest.mark.parametrize("monitor, mode, want", [("val_accuracy", "auto", "max"), ("val_loss", "auto", "min"),
                                                 ("val_top5_accuracy", "auto", "max"), ("val_accuracy", "min", "min")])
def test_early_stopping_without_a_mode_takes_the_metrics_own_direction(monitor, mode, want):
    es = EarlyStopping(monitor, mode, patience=1, restore_best=False)
    assert es.mode == want and EarlyStopping(monitor).mode == EarlyStopping(monitor, "auto").mode
    st = State(model=tiny_cnn())
    for e, v in enumerate([0.5, 0.6, 0.4]):
        st.epoch = e
        es.on_epoch_end(st, {"epoch": e + 1, monitor: v})
        if st.should_stop:
            break
    assert (es.best, es.best_epoch, e + 1) == ((0.6, 2, 3) if want == "max" else (0.5, 1, 2))


def test_nan_guard_names_the_step_and_suggests_a_lower_lr():
    calls = {"n": 0}

    def loss(out, y):
        calls["n"] += 1
        base = nn.functional.cross_entropy(out, y)
        return base * float("nan") if calls["n"] >= 4 else base

    tr, va = tiny_data()
    model = tiny_cnn()
    with pytest.warns(RuntimeWarning) as w:
        h = nbtrain.fit(model=model, train=tr, val=va, loss=loss, epochs=3, log_every=3, progress=False,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.5))
    msg = "step 4: the loss became nan (lower the learning rate, e.g. lr=0.05, or set grad_clip=1.0)"
    assert h.stop_reason == msg and str(w[0].message) == msg
    # seen at the log point ending epoch 1 (step 5): the run stops there
    assert len(h.epochs) == 1 and h.steps[-1]["step"] == 5 and math.isnan(h.steps[-1]["loss"])


def test_keyboard_interrupt_mid_epoch_ends_cleanly_and_resumes_exactly(tmp_path):
    tr, va = tiny_data()
    model = tiny_cnn(seed=3)
    model.eval()
    h = nbtrain.fit(model=model, train=tr, val=va, epochs=3, log_every=2, callbacks=[InterruptAt(7)],
                    logdir=str(tmp_path / "tb"), checkpoint_dir=str(tmp_path / "ck"), run_name="r", progress=False)
    assert h.interrupted and h.stop_reason == "interrupted"
    assert len(h.epochs) == 1 and h.steps[-1]["step"] == 7        # the partial window up to the interrupt
    assert not model.training                                   # the caller's mode restored
    assert all(not m._forward_hooks for m in model.modules())    # no hook left behind
    # logs flushed: the run's scalars are on disk
    assert [e.step for e in _events(tmp_path / "tb" / "r").Scalars("train/loss")] == [2, 4, 5, 6, 7]
    ck = nbtrain.load_checkpoint(tmp_path / "ck" / "r" / "interrupted.pt")
    assert ck["epoch"] == 1 and ck["step"] == 7 and ck["partial"]["batches"] == 2
    assert all(torch.equal(ck["model"][k], v) for k, v in model.state_dict().items())
    # resuming skips the 2 batches done and goes on exactly as a run that was never interrupted
    resumed = tiny_cnn(seed=3)
    tr, va = tiny_data()                                        # fresh loaders: their generator starts over
    h2 = nbtrain.fit(model=resumed, train=tr, val=va, epochs=3, log_every=2, progress=False,
                     resume=tmp_path / "ck" / "r" / "interrupted.pt")
    straight = tiny_cnn(seed=3)
    tr, va = tiny_data()
    h3 = nbtrain.fit(model=straight, train=tr, val=va, epochs=3, log_every=2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()))
    assert [s["step"] for s in h2.steps] != [s["step"] for s in h.steps]
    h2d, h3d = h2.to_dict(), h3.to_dict()
    assert h2d["epochs"] == h3d["epochs"]
    # the step logs differ only where the interrupt cut a window in two (step 7 logged, then 8 for 7..8)
    assert [s for s in h2d["steps"] if s["step"] not in (7, 8)] == [s for s in h3d["steps"] if s["step"] != 8]


def test_an_error_in_training_still_runs_cleanup_and_raises():
    ended = []

    class Boom(Callback):
        def on_batch_end(self, state, logs):
            raise ValueError("boom")

        def on_fit_end(self, state):
            ended.append(state.stop_reason)

    tr, va = tiny_data()
    with pytest.raises(ValueError, match="boom"):
        nbtrain.fit(model=tiny_cnn(), train=tr, val=va, callbacks=[Boom()], progress=False)
    assert ended == ["error: ValueError: boom"]


def _tb_fit(tmp_path, name, budget, epochs=4, **kw):
    from nbtrain.sinks.tensorboard import TensorBoard
    tb = TensorBoard(tmp_path / name, budget=budget)
    tr, va = tiny_data()
    h = nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=epochs, callbacks=[tb], progress=False, **kw)
    return tb, h, _events(tmp_path / name)


def test_histograms_and_images_keep_to_their_time_budget_and_always_come_at_the_first_and_last_epoch(tmp_path):
    tb, h, acc = _tb_fit(tmp_path, "tight", budget=1e-9)     # nothing is ever cheap enough between the ends
    assert tb.heavy_epochs == [1, 4]
    assert [e.step for e in acc.Histograms("weights/0.weight")] == [1, 4]
    assert [e.step for e in acc.Images("features/0")] == [1, 4]
    assert [e.step for e in acc.Images("confusion_matrix")] == [1, 4]
    assert [e.step for e in acc.Scalars("epoch/val_loss")] == [1, 2, 3, 4]    # scalars: every epoch, always
    assert [e.step for e in acc.Scalars("val_f1/0")] == [1, 2, 3, 4]
    tb, h, acc = _tb_fit(tmp_path, "free", budget=1e9)
    assert tb.heavy_epochs == [1, 2, 3, 4] and [e.step for e in acc.Histograms("grads/0.weight")] == [1, 2, 3, 4]


def test_an_epoch_that_stops_the_run_gets_its_histograms(tmp_path):
    tb, h, acc = _tb_fit(tmp_path, "r", budget=1e-9, epochs=10, early_stopping=1, min_delta=100.0)
    assert len(h.epochs) == 2 and tb.heavy_epochs == [1, 2]
    assert [e.step for e in acc.Histograms("weights/0.weight")] == [1, 2]


def test_the_graph_of_a_torch_nn_model_is_traced_once_and_a_custom_module_every_time(tmp_path, monkeypatch):
    from nbtrain.sinks import tensorboard as tbmod
    traced = []
    real = tbmod.graph_def
    monkeypatch.setattr(tbmod, "graph_def", lambda m, x: traced.append(type(m).__name__) or real(m, x))
    monkeypatch.setattr(tbmod, "_GRAPHS", type(tbmod._GRAPHS)())

    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

    tr, va = tiny_data()
    for i, model in enumerate([tiny_cnn(), tiny_cnn(seed=1), nn.Sequential(Double(), *tiny_cnn()),
                               nn.Sequential(Double(), *tiny_cnn())]):
        nbtrain.fit(model=model, train=tr, val=va, epochs=1, logdir=str(tmp_path), run_name=f"r{i}", progress=False)
        acc = _events(tmp_path / f"r{i}")
        assert acc.Tags()["graph"] is True
        graph = acc.Graph()
        assert sorted(n.op for n in graph.node if "Conv" in n.op or "conv" in n.op.lower())   # the conv is in it
    assert traced == ["Sequential", "Sequential", "Sequential"]            # the second tiny_cnn: no new trace


_WITHOUT_TENSORBOARD = """
import sys
sys.modules["tensorboard"] = None          # as on a plain install: tensorboardX only, no tensorboard package
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import nbtrain
try:
    import torch.utils.tensorboard
    raise SystemExit("torch.utils.tensorboard imported: the blocker did not work")
except ImportError:
    pass
torch.manual_seed(0)
x, y = torch.randn(32, 1, 6, 6), torch.randint(0, 3, (32,))
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
nbtrain.fit(model=model, train=DataLoader(TensorDataset(x, y), batch_size=8), epochs=1, logdir=sys.argv[1],
            run_name="r", progress=False, dashboard=False)
print("tensorboard" in sys.modules and sys.modules["tensorboard"] is not None)
"""


def test_a_plain_install_without_the_tensorboard_package_writes_the_graph(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", _WITHOUT_TENSORBOARD, str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"                   # it never got the tensorboard package
    acc = _events(tmp_path / "r")
    assert acc.Tags()["graph"] is True
    nodes = {n.name: n for n in acc.Graph().node}
    conv = [n for n in nodes.values() if n.op == "aten::_convolution"]
    assert len(conv) == 1 and conv[0].name.startswith("Sequential/Conv2d[0]/")
    assert "input/" + conv[0].input[0].split("/")[-1] in nodes                 # fed by the model's input
    assert [d.size for d in conv[0].attr["_output_shapes"].list.shape[0].dim] == [1, 4, 6, 6]
    assert any(n.op == "aten::linear" and n.name.startswith("Sequential/Linear[3]/") for n in nodes.values())


class _CountingWriter:
    """A SummaryWriter stand-in that records the scalars of each summary handed to its file writer (each one an event
    that wakes tensorboardX's writer thread), values rounded from the protobuf's float32."""

    def __init__(self, *_):
        self.scalars: list = []
        self.events = 0
        self.file_writer = self

    def add_summary(self, summary, step=None):
        self.events += 1
        self.scalars += [(v.tag, round(v.simple_value, 6), step) for v in summary.value]

    def add_text(self, *a):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def test_scalars_reach_the_writer_in_batches_and_none_is_lost_on_an_interrupt(tmp_path):
    from nbtrain.sinks.tensorboard import TensorBoard
    now = [0.0]
    tb = TensorBoard(tmp_path / "r", histograms=False, feature_maps=False, graph=False, hand_every=10.0,
                     writer_factory=_CountingWriter, clock=lambda: now[0])
    state = State(model=tiny_cnn(), device="cpu")
    tb.on_fit_start(state)
    for step in range(1, 6):                          # 5 log points within 10 s: nothing handed over yet
        state.step, now[0] = step, step
        tb.on_log(state, {"step": step, "loss": 1.0 / step, "lr": 0.1})
    assert tb.writer.scalars == []
    state.step, now[0] = 6, 10.5                      # 10 s since the last hand-over: all six log points at once
    tb.on_log(state, {"step": 6, "loss": 1 / 6, "lr": 0.1})
    assert [s for t, _, s in tb.writer.scalars if t == "train/loss"] == [1, 2, 3, 4, 5, 6]
    assert ("lr/group_0", 0.1, 6) in tb.writer.scalars
    assert tb.writer.events == 6                      # one event per step, its loss and LR in it
    state.step, now[0] = 7, 11.0
    tb.on_log(state, {"step": 7, "loss": 1 / 7, "lr": 0.1})
    tb.on_interrupt(state, KeyboardInterrupt())      # the pending point is written before the run unwinds
    assert tb.writer.scalars[-2:] == [("train/loss", round(1 / 7, 6), 7), ("lr/group_0", 0.1, 7)]


def test_interrupted_fit_keeps_every_logged_scalar_in_the_event_file(tmp_path):
    tr, va = tiny_data()
    h = nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=2, log_every=1, logdir=str(tmp_path), run_name="r",
                    callbacks=[InterruptAt(5, "on_log")], progress=False, dashboard=False)
    assert h.status == "interrupted"
    assert [e.step for e in _events(tmp_path / "r").Scalars("train/loss")] == [1, 2, 3, 4, 5]


def test_the_epoch_end_work_gets_a_worker_thread_only_where_a_core_is_spare(monkeypatch):
    from nbtrain.sinks import tensorboard as tbmod
    monkeypatch.setattr(tbmod.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(tbmod.torch, "get_num_threads", lambda: 2)
    assert not tbmod.spare_core("cpu")                # torch's two threads use both cores
    monkeypatch.setattr(tbmod.torch, "get_num_threads", lambda: 1)
    assert tbmod.spare_core("cpu")                    # set_num_threads(1) on two cores: one is free
    monkeypatch.setattr(tbmod.torch, "get_num_threads", lambda: 2)
    assert tbmod.spare_core(torch.device("cuda", 0))  # the GPU trains, the CPU has room


@pytest.mark.parametrize("shape,dtype", [((3, 40, 30), torch.float32), ((1, 12, 20), torch.float32),
                                         ((3, 25, 25), torch.uint8)])
def test_tensorboard_images_have_tensorboardx_pixels_in_a_faster_png(shape, dtype):
    """The sink encodes its images itself (zlib level 1, no same-size resample): the PNG the reader decodes holds
    the pixels tensorboardX's own summary.image gives, with its tag and sizes."""
    import numpy as np
    from PIL import Image
    from tensorboardX.summary import image as tbx_image

    from nbtrain.sinks.tensorboard import image
    g = torch.Generator().manual_seed(0)
    img = torch.rand(shape, generator=g) if dtype == torch.float32 else torch.randint(0, 256, shape, dtype=dtype)
    want, got = tbx_image("features/0 conv", img).value[0], image("features/0 conv", img)
    decode = lambda v: np.asarray(Image.open(io.BytesIO(v.image.encoded_image_string)))  # noqa: E731
    assert got.tag == want.tag and (decode(got) == decode(want)).all()
    assert (got.image.height, got.image.width, got.image.colorspace) == \
        (want.image.height, want.image.width, want.image.colorspace) == (shape[1], shape[2], 3)
