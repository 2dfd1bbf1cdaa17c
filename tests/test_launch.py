"""fit(spec, processes=N): workers started with torchrun from the caller, rank 0's run played to the caller's display,
Stop from the display, a worker's failure as one message, and no worker left over (checked by PID).

Each case is a tiny MLP on synthetic data, 1 thread per worker. The display here is a recording Callback wired the way
the Dashboard is (``control`` and ``external_control``), so its clicks take the Dashboard's path to the workers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import nbtrain
from nbtrain.sinks.dashboard import Dashboard
from nbtrain.spec import LayerSpec, ModelSpec, TrainSpec
from nbtrain.train.callbacks import Callback
from nbtrain.train.launch import WorkerError, root_cause, wait_gone
from nbtrain.train.mirror import Mirror, RemoteControl
from nbtrain.train.relay import CONTROL, Follow, read_control

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, batch_size=25, size=1000, epochs=2, shuffle=False):
    spec = TrainSpec.default()
    d = spec.data
    d.dataset, d.image_shape, d.size, d.num_classes = "synthetic", [1, 8, 8], size, 10
    d.image_size, d.train_transforms, d.val_transforms = 0, [], []
    d.shuffle, d.batch_size, d.val_split = shuffle, batch_size, 0.2
    spec.model = ModelSpec(layers=[LayerSpec("Flatten"), LayerSpec("Linear", params={"out_features": 32}),
                                   LayerSpec("ReLU"), LayerSpec("Linear", params={"out_features": 10})])
    spec.optim.type, spec.optim.lr = "SGD", 0.1
    spec.loop.epochs, spec.loop.log_every = epochs, 4
    spec.loop.logdir, spec.loop.checkpoint_dir = "", str(tmp_path / "ck")
    spec.loop.histograms = spec.loop.feature_maps = False
    return TrainSpec.from_dict(spec.to_dict())


class Display(Callback):
    """Records what the kernel plays; ``act(state, control)`` runs at each log point (a click, a kill ...)."""

    def __init__(self, act=None):
        self.control, self.external_control = None, False
        self.seen, self.act, self.pids = [], act, set()
        self.before = {p.pid for p in psutil.Process().children(recursive=True)}   # earlier tests' (a Jupyter server...)

    def on_fit_start(self, state):
        self.seen.append(("start", state.epochs, state.steps_per_epoch))

    def on_log(self, state, logs):
        self.seen.append(("log", state.step))
        self.pids |= set(launched(self.before))
        if self.act is not None:
            self.act(state, self.control)

    def on_epoch_end(self, state, logs):
        self.seen.append(("epoch", state.step, logs["loss"]))

    def on_fit_end(self, state):
        self.seen.append(("end", state.stop_reason))


def launched(before=()) -> list[int]:
    """The PIDs of this process's descendants that fit(processes=N) started (the agent, the workers), not in ``before``."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.pid not in before and any(m in " ".join(p.cmdline()) for m in ("nbtrain.train.agent",
                                                                               "nbtrain.train.worker")):
                found.append(p.pid)
        except psutil.Error:        # ended meanwhile
            continue
    return found


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def _close(a, b, rel):
    assert [e["epoch"] for e in a] == [e["epoch"] for e in b]
    for x, y in zip(a, b):
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert x[k] == pytest.approx(y[k], rel=rel, abs=1e-12), (x["epoch"], k)


@pytest.mark.slow
def test_two_processes_from_the_caller_train_like_one_process_on_the_whole_batch(tmp_path):
    shown = Display()
    h = nbtrain.fit(_spec(tmp_path), processes=2, dashboard=shown, run_name="two")
    assert isinstance(h, nbtrain.History) and h.status == "finished" and h.run_name == "two"
    assert shown.seen[0] == ("start", 2, 16) and shown.seen[-1] == ("end", "")      # 800 samples / 2 ranks / 25
    assert [s[1] for s in shown.seen if s[0] == "epoch"] == [16, 32]
    assert [s[2] for s in shown.seen if s[0] == "epoch"] == [e["loss"] for e in h.epochs]
    assert len(shown.pids) == 3 and wait_gone(sorted(shown.pids), 0.5)   # the agent and both workers are gone
    one = nbtrain.fit(_spec(tmp_path / "one", batch_size=50), progress=False, doctor=False)
    _close(h.epochs, one.epochs, rel=1e-4)                   # 2 x 25 samples a step = one process's 50


def _stop_at(step):
    def act(state, control):
        if state.step >= step:
            control.stop()
    return act


@pytest.mark.slow
def test_stop_from_the_display_stops_every_rank_and_the_checkpoint_resumes_exactly(tmp_path):
    spec = _spec(tmp_path, epochs=8, shuffle=True, size=2000)       # 32 steps an epoch per rank; the workers run
    #   ahead of the view (seconds on a loaded machine): 8 epochs leave them 220 steps after the click at step 36
    full = nbtrain.fit(spec, processes=2, dashboard=Display(), run_name="full")
    shown = Display(_stop_at(36))                              # early in epoch 2
    h = nbtrain.fit(spec, processes=2, dashboard=shown, run_name="x")
    assert h.status == "stopped" and h.stop_reason == "stopped by you"
    assert shown.seen[-1] == ("end", "stopped by you") and len(shown.pids) == 3 and wait_gone(sorted(shown.pids), 0.5)
    ck = nbtrain.load_checkpoint(tmp_path / "ck" / "x" / "last.pt")
    step = ck["step"]                                # a log point after the click (the workers run ahead of the view)
    assert step > 36 and step % 4 == 0 and h.steps[-1]["step"] == step and len(h.epochs) == step // 32
    assert (ck["partial"] or {}).get("batches", 0) == step % 32       # mid-epoch: the batches done
    again = nbtrain.fit(spec, processes=2, dashboard=Display(), run_name="x", resume="auto")
    _close(again.epochs, full.epochs, rel=1e-6)


@pytest.mark.slow
def test_a_killed_worker_is_one_error_with_its_rank_and_last_lines_and_nothing_is_left(tmp_path):
    killed = []

    def kill_rank_1(state, control):
        for pid in launched(shown.before):
            try:
                p = psutil.Process(pid)
                if not killed and p.environ().get("RANK") == "1":
                    p.send_signal(signal.SIGKILL)
                    killed.append(p.pid)
            except psutil.Error:        # a process that ended meanwhile
                continue
    shown = Display(kill_rank_1)
    with pytest.raises(WorkerError) as e:
        nbtrain.fit(_spec(tmp_path, size=4000), processes=2, dashboard=shown, run_name="k")
    first = str(e.value).splitlines()[0]
    assert first == "worker rank 1 of fit(processes=2) failed: killed by signal 9 (SIGKILL)"
    assert "--- its last lines of output:" in str(e.value)
    assert shown.seen[-1][0] == "end" and len(shown.pids) == 3 and wait_gone(sorted(shown.pids), 0.5)


@pytest.mark.slow
def test_a_worker_error_says_which_rank_and_what(tmp_path):
    with pytest.raises(WorkerError) as e:
        nbtrain.fit(_spec(tmp_path), processes=2, dashboard=False, resume=str(tmp_path / "nope.pt"))
    first = str(e.value).splitlines()[0]
    assert first.startswith("worker rank 0 of fit(processes=2) failed: CheckpointError: ")
    assert "nope.pt: no such file" in first
    assert any("CheckpointError" in line for line in str(e.value).splitlines()[2:])   # its own output, last lines


KERNEL = """
import sys, nbtrain
from nbtrain.train.launch import Workers
sys.path.insert(0, {tests!r})
from test_launch import _spec
from pathlib import Path
nbtrain.fit(_spec(Path({tmp!r}), size=100000, epochs=50), processes=2, dashboard=False)
"""


@pytest.mark.slow
def test_no_worker_outlives_a_killed_kernel(tmp_path):
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL.format(tests=str(ROOT / "tests"), tmp=str(tmp_path))],
                              cwd=ROOT, start_new_session=True)
    try:
        end, workers = time.monotonic() + 240, []
        while time.monotonic() < end and len(workers) < 2:
            workers = [p for p in psutil.Process(kernel.pid).children(recursive=True) if _rank(p) is not None]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers did not start"
        every = [p.pid for p in psutil.Process(kernel.pid).children(recursive=True)]     # the agent's helpers too
        kernel.send_signal(signal.SIGKILL)                  # a kernel restart: nothing of it can clean up
        kernel.wait()
        assert wait_gone(every, 10), "a worker outlived its kernel"
    finally:
        if kernel.poll() is None:
            os.killpg(kernel.pid, signal.SIGKILL)


def _rank(p):
    try:
        return p.environ().get("RANK")
    except psutil.Error:
        return None


INTERRUPTED = """
import json, signal, sys, nbtrain
signal.signal(signal.SIGINT, signal.default_int_handler)   # as a kernel does, even when started with SIGINT ignored
sys.path.insert(0, {tests!r})
from test_launch import _spec
from pathlib import Path
h = nbtrain.fit(_spec(Path({tmp!r}), size=4000, epochs=50), processes=2, dashboard=False, run_name="i")
print(json.dumps({{"status": h.status, "reason": h.stop_reason, "step": h.steps[-1]["step"]}}))
"""


@pytest.mark.slow
def test_the_kernels_interrupt_stops_every_worker_with_a_checkpoint_and_returns_the_history(tmp_path):
    kernel = subprocess.Popen([sys.executable, "-c", INTERRUPTED.format(tests=str(ROOT / "tests"), tmp=str(tmp_path))],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        end = time.monotonic() + 240
        while time.monotonic() < end and not (tmp_path / "ck" / "i" / "epoch_001.pt").exists():
            time.sleep(0.1)
        every = [p.pid for p in psutil.Process(kernel.pid).children(recursive=True)]
        kernel.send_signal(signal.SIGINT)                 # the kernel's stop button (its process group only)
        out, err = kernel.communicate(timeout=60)
    finally:
        if kernel.poll() is None:
            os.killpg(kernel.pid, signal.SIGKILL)
    assert "Traceback" not in out + err and "SignalException" not in out + err, err[-3000:]   # no torchrun traceback
    res = json.loads(out.strip().splitlines()[-1])
    assert res["status"] == "stopped" and res["reason"] == "stopped by you"
    assert nbtrain.load_checkpoint(tmp_path / "ck" / "i" / "last.pt")["step"] == res["step"]
    assert len(every) >= 3 and wait_gone(every, 5)


# -- the pieces, in one process ----------------------------------------------------------------------
class FakeState:
    def __init__(self):
        self.rank, self.world_size, self.device = 0, 1, None
        self.stopped, self.scaled = "", []

    def request_stop(self, reason):
        self.stopped = reason

    def set_lr_scale(self, scale):
        if scale != (self.scaled or [1.0])[-1]:
            self.scaled.append(scale)


def test_follow_applies_the_lr_factor_once_waits_while_paused_and_stops(tmp_path):
    asked = []
    control = RemoteControl(lambda **c: (asked.append(c), _write(tmp_path, c)))
    slept = []
    follow = Follow(tmp_path, sleep=lambda s: (slept.append(s), control.resume() if len(slept) == 3 else None))
    st = FakeState()
    control.scale_lr(0.5)
    follow.on_batch_end(st, {"loss": 1.0})
    follow.on_batch_end(st, {"loss": 1.0})
    assert st.scaled == [0.5] and st.stopped == ""
    control.pause()
    follow.on_batch_end(st, {})                    # no log point: nothing read
    assert slept == []
    follow.on_batch_end(st, {"loss": 1.0})         # waits (3 polls) until resumed
    assert len(slept) == 3 and not control.paused
    control.stop()
    follow.on_batch_end(st, {"loss": 1.0})
    assert st.stopped == "stopped by you"
    assert read_control(tmp_path / CONTROL) == {"lr_scale": 0.5, "pause": False, "stop": True}


def _write(folder, control):
    path = folder / CONTROL
    d = read_control(path)
    d.update(control)
    path.write_text(json.dumps(d))


def test_the_mirror_plays_rank_0s_events_to_the_dashboard_in_the_loops_order(tmp_path):
    lines = []
    dash = Dashboard(mode="text", out=type("O", (), {"write": lambda s, t: lines.append(t), "flush": lambda s: 0})())
    asked = []
    control = RemoteControl(lambda **c: asked.append(c))
    dash.control, dash.external_control = control, True
    m = Mirror(_spec(tmp_path), [dash], control)
    m.play({"e": "start", "step": 0, "epoch": 0, "lrs": [0.1], "epochs": 2, "steps_per_epoch": 16, "batch_size": 25,
            "world_size": 2, "run_name": "r", "monitor": "val_loss", "mode": "min"})
    m.play({"e": "log", "step": 4, "epoch": 0, "lrs": [0.1], "logs": {"loss": 2.0, "step": 4, "lr": 0.1},
            "notes": ["a note"]})
    dash._message({"t": "lr", "value": 0.5})                 # the LR slider: to the workers, and into the record
    m.play({"e": "epoch", "step": 16, "epoch": 0, "lrs": [0.1], "logs": {"loss": 1.5, "val_loss": 1.6, "epoch": 1}})
    m.play({"e": "end", "step": 20, "epoch": 1, "lrs": [0.1], "stop_reason": "stopped by you"})
    h = m.state.history
    assert h.steps == [{"loss": 2.0, "step": 4, "lr": 0.1}] and h.notes == ["a note"]
    assert h.lr_rows == [[0, [0.1]], [4, [0.1]]] and len(h.lr_plan[0]) == 32 and h.best() == ("val_loss", 1.6, 1)
    assert asked == [{"lr_scale": 0.5}] and h.lr_scales == [[4, 0.5]]
    assert m.state.train_loader.batch_size == 50 and h.status == "stopped"
    text = "".join(lines)
    assert "epoch 1/2  loss 1.5  val_loss 1.6  (" in text
    assert "stopped at epoch 2/2, step 20: stopped by you" in text


def test_root_cause_reads_torchruns_failure_report():
    report = ("Failures:\n[1]:\n  rank: 0 (local_rank: 0)\n  exitcode: 1 (pid: 7)\n"
              "Root Cause (first observed failure):\n[0]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 8)\n")
    assert root_cause(report) == (1, -9)
    peer_first = ("Failures:\n[1]:\n  time      : t\n  host      : h\n  rank      : 1 (local_rank: 1)\n"
                  "  exitcode  : -9 (pid: 8)\n  error_file: <N/A>\nRoot Cause (first observed failure):\n[0]:\n"
                  "  time      : t\n  host      : h\n  rank      : 0 (local_rank: 0)\n  exitcode  : 1 (pid: 7)\n")
    assert root_cause(peer_first) == (1, -9)       # the killed rank, not the peer whose gloo call failed first
    assert root_cause(peer_first.replace("-9", "-15")) == (0, 1)    # torchrun's own SIGTERM is no cause
    assert root_cause("failed (exitcode: 1) local_rank: 0 (pid: 5) of binary") == (0, 1)
    assert root_cause("") == (None, None)


def test_processes_refuses_what_cannot_cross_into_a_worker(tmp_path):
    with pytest.raises(nbtrain.NbtrainError, match=r"fit\(processes=...\): callbacks= does not go with processes="):
        nbtrain.fit(_spec(tmp_path), processes=2, callbacks=[Callback()])
    with pytest.raises(nbtrain.NbtrainError, match=r"processes must be a whole number >= 1, got 0"):
        nbtrain.fit(_spec(tmp_path), processes=0)


@pytest.mark.slow
def test_the_workbench_trains_on_two_processes_in_the_background_and_its_stop_reaches_them(tmp_path):
    from nbtrain.widgets import Workbench
    spec = _spec(tmp_path, size=4000, epochs=50)
    spec.loop.run_name = "wb"
    wb = Workbench(spec, preview=False, background=True)
    wb.processes.value = 2
    run = wb.train_button.click() or wb.run
    end = time.monotonic() + 240
    while (run.state is None or run.state.step < 68) and time.monotonic() < end:     # into epoch 2 (64 a epoch)
        time.sleep(0.1)
    assert run.state is not None and run.state.world_size == 2, "rank 0's run did not reach the Workbench"
    wb.stop_button.click()
    wb._watcher.join(60)
    assert run.done and wb.history.stop_reason == "stopped by you"
    assert wb.status.value.startswith("stopped by you at epoch ")
    assert nbtrain.load_checkpoint(tmp_path / "ck" / "wb" / "last.pt")["step"] == wb.history.steps[-1]["step"]
