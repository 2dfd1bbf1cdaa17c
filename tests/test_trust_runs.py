"""Runs never share files, interrupts are taken where everything agrees, and resume is exact or refused clearly."""
import os
import signal

import pytest
import torch
from loop_fixtures import tiny_cnn, tiny_data
from test_loop_spec import small_spec

import nbtrain
from nbtrain.errors import CheckpointError, NbtrainError
from nbtrain.sinks.checkpoint import Checkpoint, clean_stale_temps
from nbtrain.train.callbacks import Callback


def _parts_fit(tmp_path, **kw):
    tr, va = tiny_data()
    return nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=kw.pop("epochs", 2), progress=False,
                       logdir=str(tmp_path / "runs"), checkpoint_dir=str(tmp_path / "ck"), **kw)


def _weights(path):
    return nbtrain.load_checkpoint(path)["model"]


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- runs never share files ---------------------------------------------------------------------------
def test_two_background_runs_started_in_the_same_second_keep_every_file(tmp_path):
    runs = [_parts_fit(tmp_path, background=True) for _ in range(2)]
    for r in runs:
        r.wait(120)
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert len(names) == 2 and names[1] == names[0] + "-2", names
    for n in names:
        assert {"last.pt", "best.pt"} <= {p.name for p in (tmp_path / "ck" / n).iterdir()}
        assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "runs" / n).iterdir())
    assert not _equal(_weights(tmp_path / "ck" / names[0] / "last.pt"), {}) and runs[0].state.run_name != \
        runs[1].state.run_name


def test_a_rerun_with_the_same_run_name_is_refused_and_keeps_the_first_runs_files(tmp_path):
    _parts_fit(tmp_path, run_name="exp1")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ck" / "exp1").iterdir()}
    with pytest.raises(NbtrainError) as e:
        _parts_fit(tmp_path, run_name="exp1")
    assert str(e.value) == (f"loop.run_name: a run named 'exp1' exists already ({tmp_path / 'runs' / 'exp1'}) "
                            "(choose another run_name, leave it empty for a new timestamped run, resume it with "
                            "resume=<its last.pt>, or pass overwrite=True to replace it)")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ck" / "exp1").iterdir()} == before
    _parts_fit(tmp_path, run_name="exp1", overwrite=True, epochs=1)
    assert sorted(p.name for p in (tmp_path / "ck" / "exp1").iterdir()) == ["best.pt", "epoch_001.pt", "last.pt"]


@pytest.mark.parametrize("name", ["../outside", "/tmp/abs", "a/b", "..", "a\\b"])
def test_run_name_is_a_name_not_a_path(tmp_path, name):
    with pytest.raises(NbtrainError) as e:
        _parts_fit(tmp_path, run_name=name)
    assert str(e.value).startswith(f"loop.run_name: run_name must be a plain folder name, got {name!r} (")
    assert not (tmp_path / "outside").exists()


def test_stale_temp_files_of_a_dead_process_are_cleaned_at_start(tmp_path):
    dead = tmp_path / ".last.pt.tmp-999999999-1"
    mine = tmp_path / f".last.pt.tmp-{os.getpid()}-1"
    dead.write_bytes(b"half"), mine.write_bytes(b"in progress")
    Checkpoint(tmp_path)
    assert not dead.exists() and mine.exists()
    assert clean_stale_temps(tmp_path) == []


def test_a_nan_run_never_writes_non_finite_weights_and_says_nan(tmp_path):
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=1e30)          # diverges to nan within a few steps
    tr, va = tiny_data()
    with pytest.warns(Warning):
        h = nbtrain.fit(model=model, train=tr, val=va, optimizer=opt, epochs=3, log_every=1, progress=False,
                        checkpoint_dir=str(tmp_path), run_name="nan")
    assert h.status == "nan" and "the loss became nan" in h.stop_reason
    for p in (tmp_path / "nan").glob("*.pt"):
        ck = nbtrain.load_checkpoint(p)
        assert all(torch.isfinite(t).all() for t in ck["model"].values() if t.is_floating_point()), p.name
    assert nbtrain.fit(small_spec(epochs=1), progress=False).status == "finished"


# -- interrupts at batch boundaries ---------------------------------------------------------------------
class Interrupt(Callback):
    """Sends SIGINT to this process during batch ``at`` (``times`` in a row), as Ctrl-C or the kernel would."""

    def __init__(self, at: int, times: int = 1):
        self.at, self.times = at, times

    def on_batch_start(self, state):
        if state.step == self.at:
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("times", [1, 2])
def test_an_interrupt_mid_step_is_taken_at_the_batch_boundary_and_resumes_exactly(tmp_path, times, capsys):
    straight = small_spec(epochs=2, checkpoint_dir=str(tmp_path), log_every=4, run_name="straight")
    h_straight = nbtrain.fit(straight, progress=False)
    spec = small_spec(epochs=2, checkpoint_dir=str(tmp_path), log_every=4, run_name="cut")
    h = nbtrain.fit(spec, callbacks=[Interrupt(at=13, times=times)], progress=False)
    assert h.status == "interrupted" and h.stop_reason == "interrupted (SIGINT) at epoch 1, batch 14 of 23"
    ck = nbtrain.load_checkpoint(tmp_path / "cut" / "interrupted.pt")
    assert ck["step"] == 14 and ck["partial"]["batches"] == 14     # the batch under way was finished, counted
    if times == 2:
        assert "interrupt once more to abort" in capsys.readouterr().err
    spec.loop.run_name = "cut"
    h2 = nbtrain.fit(spec, resume=tmp_path / "cut" / "interrupted.pt", progress=False)
    assert _equal(_weights(tmp_path / "straight" / "last.pt"), _weights(tmp_path / "cut" / "last.pt"))
    assert h2.epochs == h_straight.epochs and h2.steps == h_straight.steps      # no extra log at the interrupt


def test_a_third_interrupt_aborts_without_touching_last_pt(tmp_path):
    spec = small_spec(epochs=1, checkpoint_dir=str(tmp_path), run_name="abort")
    nbtrain.fit(spec, progress=False)
    before = (tmp_path / "abort" / "last.pt").read_bytes()
    handler = signal.getsignal(signal.SIGINT)     # Python's default, or SIG_IGN in a process started in the background

    class ThirdWhileSaving(Callback):
        def on_interrupt(self, state, exc):
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        nbtrain.fit(spec, callbacks=[Interrupt(at=3), ThirdWhileSaving()], progress=False, resume=None,
                    overwrite=False, epochs=2, run_name="abort2")
    assert (tmp_path / "abort" / "last.pt").read_bytes() == before
    assert not (tmp_path / "abort2" / "last.pt").exists()
    assert signal.getsignal(signal.SIGINT) is handler                         # fit gave back the handler it found


# -- resume: exact, or one clear error ---------------------------------------------------------------
def test_resume_checks_the_optimizer_and_lists_what_the_checkpoint_wins(tmp_path):
    spec = small_spec(epochs=1, checkpoint_dir=str(tmp_path), run_name="adam")
    spec.optim.type = "Adam"
    nbtrain.fit(spec, progress=False)
    ck = tmp_path / "adam" / "last.pt"
    sgd = small_spec(epochs=2, checkpoint_dir=str(tmp_path), run_name="adam")
    sgd.optim.type = "SGD"
    with pytest.raises(CheckpointError) as e:
        nbtrain.fit(sgd, resume=ck, progress=False)
    assert str(e.value) == (f"{ck}: the checkpoint's optimizer is Adam, this run's is SGD (resume with optim.type "
                            "'Adam', or start a new run (resume=None))")
    spec.loop.epochs, spec.optim.lr = 2, 0.05
    with pytest.warns(UserWarning, match=r"the checkpoint's optimizer settings win over this run's: group 0 lr: "
                                         r"0\.05 -> 0\.01 \("):
        h = nbtrain.fit(spec, resume=ck, progress=False)
    assert h.epochs[-1]["lr"] == pytest.approx(0.01)


def test_resume_with_a_longer_run_and_a_schedule_planned_over_the_run_is_one_clear_error(tmp_path):
    sched = {"type": "OneCycleLR", "max_lr": 0.05}
    nbtrain.fit(small_spec(epochs=2, sched=sched, checkpoint_dir=str(tmp_path), run_name="oc"), progress=False)
    with pytest.raises(CheckpointError) as e:
        nbtrain.fit(small_spec(epochs=4, sched=sched, checkpoint_dir=str(tmp_path), run_name="oc"),
                    resume=tmp_path / "oc" / "last.pt", progress=False)
    assert "the checkpoint's run planned its OneCycleLR schedule over 2 epochs; this run asks for 4" in str(e.value)
    assert "(resume with epochs=2; to train longer, start a new run" in str(e.value)
    step = {"type": "StepLR", "step_size": 1, "gamma": 0.5}       # does not depend on the run's length: fine
    nbtrain.fit(small_spec(epochs=1, sched=step, checkpoint_dir=str(tmp_path), run_name="st"), progress=False)
    h = nbtrain.fit(small_spec(epochs=2, sched=step, checkpoint_dir=str(tmp_path), run_name="st"),
                    resume=tmp_path / "st" / "last.pt", progress=False)
    assert [e["lr"] for e in h.epochs] == pytest.approx([0.01, 0.005])


def test_resuming_an_swa_run_keeps_its_learning_rate(tmp_path):
    sched = {"type": "", "swa": True, "swa_start": 0, "swa_lr": 0.02, "swa_anneal_epochs": 1}
    spec = small_spec(epochs=3, sched=sched, checkpoint_dir=str(tmp_path), run_name="swa")
    straight = nbtrain.fit(spec, progress=False)

    class StopAfter(Callback):
        def on_epoch_end(self, state, logs):
            if state.epoch == 1:
                state.request_stop("stop")

    spec.loop.run_name = "swa-cut"
    nbtrain.fit(spec, callbacks=[StopAfter()], progress=False)
    h = nbtrain.fit(spec, resume=tmp_path / "swa-cut" / "last.pt", progress=False)
    assert [e["lr"] for e in h.epochs] == pytest.approx([e["lr"] for e in straight.epochs])
    assert h.epochs[-1]["lr"] == pytest.approx(0.02) and h.final == pytest.approx(straight.final)


def test_stopped_again_before_a_resumed_epoch_goes_on_keeps_the_checkpoint_partial(tmp_path):
    """Resumed from a mid-epoch checkpoint and interrupted before its first batch (in on_fit_start, say): the new
    checkpoint still says how far that epoch got (it lost that record and restarted the epoch on trained weights)."""
    straight = small_spec(epochs=2, checkpoint_dir=str(tmp_path), log_every=4, run_name="straight")
    nbtrain.fit(straight, progress=False)
    spec = small_spec(epochs=2, checkpoint_dir=str(tmp_path), log_every=4, run_name="cut")
    nbtrain.fit(spec, callbacks=[Interrupt(at=13)], progress=False)

    class AtStart(Callback):
        def on_fit_start(self, state):
            signal.raise_signal(signal.SIGINT)

    nbtrain.fit(spec, callbacks=[AtStart()], resume=tmp_path / "cut" / "interrupted.pt", progress=False)
    ck = nbtrain.load_checkpoint(tmp_path / "cut" / "interrupted.pt")
    assert ck["step"] == 14 and ck["partial"]["batches"] == 14
    nbtrain.fit(spec, resume=tmp_path / "cut" / "interrupted.pt", progress=False)
    assert _equal(_weights(tmp_path / "straight" / "last.pt"), _weights(tmp_path / "cut" / "last.pt"))


# -- an interrupt at every phase of the loop resumes exactly (weights, optimizer, History) ---------------------------
class At(Callback):
    """Sends SIGINT (``times`` in a row) at one event: ``event`` with ``state.step == step`` (any step if None)."""

    def __init__(self, event: str, step=None, times: int = 1):
        self.step, self.times, self.done = step, times, False
        setattr(self, f"on_{event}", lambda state, *a: self._fire(state))

    def _fire(self, state):
        if not self.done and (self.step is None or state.step == self.step):
            self.done = True
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)


def _tiny_run(tmp_path, name, callbacks=(), resume=None, epochs=3):
    tr, va = tiny_data(n=80)               # 60 training samples: batches of 16, 16, 16, 12
    return nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=epochs, log_every=3, progress=False, doctor=False,
                       checkpoint_dir=str(tmp_path), run_name=name, callbacks=callbacks, resume=resume)


def _same_run(tmp_path, a: str, b: str) -> None:
    x, y = nbtrain.load_checkpoint(tmp_path / a / "last.pt"), nbtrain.load_checkpoint(tmp_path / b / "last.pt")
    assert _equal(x["model"], y["model"])
    for k, s in x["optimizer"]["state"].items():
        assert _equal(s, y["optimizer"]["state"][k])
    assert x["history"]["epochs"] == y["history"]["epochs"] and x["history"]["steps"] == y["history"]["steps"]
    assert x["step"] == y["step"] and x["epoch"] == y["epoch"]


PHASES = {                                   # where the SIGINT lands -> the callbacks that send it
    "mid-epoch batch": lambda: [At("batch_start", step=5)],
    "the epoch's last batch": lambda: [At("batch_start", step=7)],
    "a log point": lambda: [At("log", step=6)],
    "validation's end": lambda: [At("validation_end", step=8)],
    "the epoch end, before its checkpoint": lambda: [At("epoch_end", step=4)],
    "doubled mid-epoch": lambda: [At("batch_start", step=9, times=2)],
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_an_interrupt_at_any_phase_resumes_exactly(tmp_path, phase):
    _tiny_run(tmp_path, "straight")
    h = _tiny_run(tmp_path, "cut", PHASES[phase]())
    assert h.status == "interrupted"
    _tiny_run(tmp_path, "cut", resume=tmp_path / "cut" / "interrupted.pt")
    _same_run(tmp_path, "straight", "cut")


def test_an_interrupt_during_a_checkpoint_write_waits_for_it_and_resumes_exactly(tmp_path, monkeypatch):
    from nbtrain.sinks import checkpoint as ck
    real, writes = ck.save_atomic, []

    def interrupted_write(obj, path, saver=torch.save):
        writes.append(path.name)
        if len(writes) == 1:
            signal.raise_signal(signal.SIGINT)      # lands in the middle of the write
        return real(obj, path, saver)

    _tiny_run(tmp_path, "straight")
    monkeypatch.setattr(ck, "save_atomic", interrupted_write)
    h = _tiny_run(tmp_path, "cut")
    monkeypatch.undo()
    assert h.status == "interrupted" and writes == ["epoch_001.pt", "best.pt", "interrupted.pt", "last.pt"]
    assert nbtrain.load_checkpoint(tmp_path / "cut" / "epoch_001.pt")["step"] == 4        # the write finished whole
    _tiny_run(tmp_path, "cut", resume=tmp_path / "cut" / "interrupted.pt")
    _same_run(tmp_path, "straight", "cut")


def test_a_run_folder_holding_only_a_dead_writes_temp_file_is_not_taken(tmp_path):
    """A kill -9 during the first checkpoint write leaves only a hidden temp file: the rerun may use the name."""
    (tmp_path / "ck" / "exp").mkdir(parents=True)
    (tmp_path / "ck" / "exp" / ".epoch_001.pt.tmp-999999999-1").write_bytes(b"half")
    _parts_fit(tmp_path, run_name="exp", epochs=1)
    assert sorted(p.name for p in (tmp_path / "ck" / "exp").iterdir()) == ["best.pt", "epoch_001.pt", "last.pt"]
