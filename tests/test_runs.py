"""nb.runs(logdir): runs made by fit (spec and parts), the CLI, a stopped, an interrupted, a NaN and a failed run
are listed with the right status; the spec diff is exact; curves come back from TensorBoard or the JSON."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import nbtrain as nb
from nbtrain.sinks.runinfo import RunInfo
from nbtrain.train.rundirs import FILENAME
from nbtrain.train.runfile import ROWS, read_run

QUIET = {"dashboard": False, "progress": False, "doctor": False}


def _spec(logdir, name, epochs=2, lr=0.001, batch_size=64):
    s = nb.TrainSpec.default()
    s.loop.epochs, s.loop.logdir, s.loop.run_name, s.loop.checkpoint_dir = epochs, str(logdir), name, ""
    s.loop.histograms = s.loop.feature_maps = False
    s.optim.lr, s.data.batch_size = lr, batch_size
    return s


class StopAfter(nb.Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, state, logs):
        if logs["epoch"] >= self.epochs:
            state.request_stop("enough")


class Raise(nb.Callback):
    def __init__(self, exc):
        self.exc = exc

    def on_batch_end(self, state, logs):
        if state.step == 3:
            raise self.exc


class PoisonWeights(nb.Callback):
    def on_batch_start(self, state):
        if state.step == 2:
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))


def _parts_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 3))


def _xy(n=96):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def _parts_fit(logdir, name, *cbs, lr=0.1):
    m = _parts_model()
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
    return nb.fit(model=m, train=_xy(), val=_xy(40), optimizer=opt, epochs=2, logdir=str(logdir), run_name=name,
                  log_every=1, callbacks=[RunInfo(), *cbs], **QUIET)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs") / "runs"
    nb.fit(_spec(d, "a"), callbacks=[RunInfo()], **QUIET)
    nb.fit(_spec(d, "b", lr=0.01, batch_size=32), callbacks=[RunInfo()], **QUIET)
    nb.fit(_spec(d, "stopped", epochs=3), callbacks=[RunInfo(), StopAfter(1)], **QUIET)
    _parts_fit(d, "parts")
    _parts_fit(d, "interrupted", Raise(KeyboardInterrupt()))
    with pytest.warns(RuntimeWarning, match="the loss became nan"):
        _parts_fit(d, "nan", PoisonWeights())
    with pytest.raises(ValueError, match="boom"):
        _parts_fit(d, "error", Raise(ValueError("boom")))
    return d


def test_status_epochs_and_best(logdir):
    r = nb.runs(logdir)
    rows = {row["name"]: row for row in r.table}
    assert sorted(rows) == ["a", "b", "error", "interrupted", "nan", "parts", "stopped"]
    assert {n: rows[n]["status"] for n in rows} == {
        "a": "finished", "b": "finished", "stopped": "stopped", "parts": "finished", "interrupted": "interrupted",
        "nan": "nan", "error": "error"}
    assert rows["a"]["epochs"] == "2/2" and rows["stopped"]["epochs"] == "1/3"
    assert rows["stopped"]["stop_reason"] == "enough"
    assert rows["error"]["stop_reason"] == "error: ValueError: boom"          # the loop's words, as in the record
    assert rows["nan"]["stop_reason"].startswith("step 3: the loss became nan")
    rec = r["a"]
    vl = [e["val_loss"] for e in rec["history"]["epochs"]]
    acc = [e["val_accuracy"] for e in rec["history"]["epochs"]]
    assert rec["best"]["val_loss"] == min(vl) and rec["best"]["val_accuracy"] == max(acc)
    assert rows["a"]["best val_loss"] == min(vl)
    assert rec["final_logs"]["val_loss"] == vl[-1] and rec["duration_s"] > 0 and rec["end_time"]
    assert r.varying == ["data.batch_size", "optim.type", "optim.lr", "loop.epochs", "loop.log_every",
                         "loop.histograms", "loop.feature_maps"]
    assert rows["b"]["data.batch_size"] == 32 and rows["b"]["optim.lr"] == 0.01   # hparams that vary are columns


def test_diff_field_by_field(logdir):
    r = nb.runs(logdir)
    assert list(r.diff("a", "b")) == ["data.batch_size 64 -> 32", "optim.lr 0.001 -> 0.01"]
    assert str(r.diff("a", "stopped")) == "loop.epochs 2 -> 3"
    assert str(r.diff("a", "a")) == "(no difference)"
    assert "optim.type Adam -> SGD" in r.diff("a", "parts")
    assert r["parts"]["spec"]["optim"]["momentum"] == 0.9 and r["parts"]["spec"]["model"]["parameters"] == 27
    with pytest.raises(nb.NbtrainError) as e:
        r.diff("a", "zzz")
    assert str(e.value) == (f"runs.diff: no run named 'zzz' in {logdir} "
                            "(known runs: a, b, stopped, parts, interrupted, nan, error)")


def test_text_and_html_tables(logdir):
    r = nb.runs(logdir)
    lines = repr(r).splitlines()
    assert lines[0].split()[:5] == ["name", "status", "epochs", "duration", "started"]
    assert lines[2].split()[:3] == ["a", "finished", "2/2"]
    h = r._repr_html_()
    assert h.count("<tr>") == 1 + 7 and "onclick=" in h and '<td data-v="stopped">stopped</td>' in h


def test_plot_reads_tensorboard_and_falls_back_to_json(logdir, monkeypatch):
    r = nb.runs(logdir)
    hist = [e["val_loss"] for e in r["a"]["history"]["epochs"]]
    fig = r.plot(["a", "b"], key="val_loss")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["a", "b"]
    assert list(lines[0].get_xdata()) == [1, 2]
    assert list(lines[0].get_ydata()) == pytest.approx(hist, rel=1e-6)   # TensorBoard stores float32
    steps_x, _ = r.curve("a", "train/loss")
    assert len(steps_x) >= 2 and steps_x == sorted(steps_x)
    for m in ("tensorboard", "tensorboard.backend.event_processing.event_accumulator"):
        monkeypatch.setitem(sys.modules, m, None)                # tensorboard not installed
    x, y = r.curve("a", "val_loss")
    assert x == [1, 2] and y == hist
    fig = r.plot(["parts"], key="loss")
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 2


def test_running_record_of_dead_process_reads_interrupted(tmp_path):
    d = tmp_path / "runs" / "killed"
    d.mkdir(parents=True)
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                       check=True)
    import socket
    rec = {"status": "running", "host": socket.gethostname(), "pid": int(p.stdout), "spec": {}, "best": {}}
    (d / FILENAME).write_text(json.dumps(rec))
    (tmp_path / "runs" / "alive").mkdir()
    (tmp_path / "runs" / "alive" / FILENAME).write_text(json.dumps({**rec, "pid": os.getpid()}))
    rows = {row["name"]: row for row in nb.runs(tmp_path / "runs").table}
    assert rows["killed"]["status"] == "interrupted" and rows["alive"]["status"] == "running"


def test_runs_errors(tmp_path):
    assert len(nb.runs(tmp_path)) == 0
    with pytest.raises(nb.NbtrainError) as e:
        nb.runs(tmp_path / "nope")
    assert str(e.value) == (f"runs(logdir): {tmp_path / 'nope'} is not a folder "
                            "(pass the logdir your runs were written to (LoopSpec.logdir, default 'runs'))")


def test_record_written_atomically_at_start(tmp_path):
    seen = {}

    class Peek(nb.Callback):
        def on_epoch_start(self, state):
            seen.setdefault("rec", json.loads((tmp_path / "r" / "p" / FILENAME).read_text()))

    _parts_fit(tmp_path / "r", "p", Peek())
    assert seen["rec"]["status"] == "running" and seen["rec"]["epochs_done"] == 0
    assert sorted(p.name for p in (tmp_path / "r" / "p").glob("*nbtrain-run*")) == [FILENAME, ROWS]   # no temp file


def test_cli_run_is_listed(tmp_path):
    spec = _spec(tmp_path / "runs", "cli", epochs=1)
    spec.save(tmp_path / "spec.json")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "nbtrain", "run", str(tmp_path / "spec.json")], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in nb.runs(tmp_path / "runs").table}
    assert rows["cli"]["status"] == "finished" and rows["cli"]["epochs"] == "1/1"


def test_rows_are_appended_at_each_epoch_end_and_the_small_header_every_few_seconds(tmp_path):
    """The rows file grows by what is new (each read is a prefix of the next: nothing is encoded twice); the header
    (epochs of 2 s on a fake clock, every=5) is replaced after epochs 3 and 6, and at the end."""
    now = [0.0]
    seen, rows = [], []

    class Tick(nb.Callback):
        def on_epoch_start(self, state):
            now[0] += 2.0

        def on_epoch_end(self, state, logs):          # after RunInfo's: what a reader finds now
            seen.append(json.loads((tmp_path / "r" / "p" / FILENAME).read_text())["epochs_done"])
            rows.append((tmp_path / "r" / "p" / ROWS).read_text())

    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    nb.fit(model=nn.Linear(4, 2), train=(x, y), epochs=7, logdir=str(tmp_path / "r"), run_name="p", checkpoint_dir="",
           callbacks=[RunInfo(clock=lambda: now[0], every=5.0), Tick()], **QUIET)
    assert seen == [0, 0, 3, 3, 3, 6, 6]
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(rows, rows[1:]))
    assert [len(history_of_rows_text(r)) for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    rec = read_run(tmp_path / "r" / "p")
    assert rec["status"] == "finished" and rec["epochs_done"] == 7 and len(rec["history"]["epochs"]) == 7
    assert rec["history"]["epochs"] == json.loads(json.dumps(rec["history"]["epochs"]))   # plain JSON


def history_of_rows_text(text: str) -> list:
    return [v for kind, v in map(json.loads, text.splitlines()) if kind == "epoch"]


def test_a_line_cut_short_by_a_kill_is_skipped_and_a_version_1_file_still_reads(tmp_path):
    (tmp_path / ROWS).write_text('["epoch", {"epoch": 1, "loss": 0.5}]\n["epoch", {"epoch": 2, "lo')
    (tmp_path / FILENAME).write_text(json.dumps({"version": 2, "status": "running", "monitor": "loss", "mode": "min"}))
    rec = read_run(tmp_path)
    assert rec["history"]["epochs"] == [{"epoch": 1, "loss": 0.5}]
    old = {"version": 1, "status": "finished", "history": {"epochs": [{"epoch": 1, "loss": 0.25}]}}
    (tmp_path / FILENAME).write_text(json.dumps(old))
    assert read_run(tmp_path / FILENAME)["history"] == old["history"]
