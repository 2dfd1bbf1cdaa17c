"""Faults are errors, never hangs: a full or read-only disk under a run's logs or checkpoints (issue 24).

The disks of the first four tests are real: tmpfs mounts of a few KiB in a private mount namespace (``unshare -rm``,
which needs no root where user namespaces are allowed; nothing outside the child process sees them), filled by the
run's own writes (TensorBoard's writer thread, the run record, torch.save) or remounted read-only mid-run
(tests/diskfault_child.py). Where no such namespace can be made they are skipped; the last two tests inject
OSError(ENOSPC) at the layer the real writers write through (the checkpoint's saver; tensorboardX's open events
file) and run everywhere."""
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_loop_spec import small_spec

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.sinks.checkpoint import Checkpoint
from nbtrain.sinks.tensorboard import TensorBoard, _writer
from nbtrain.train.resume import load_checkpoint

HERE = Path(__file__).parent
FIX = "then resume from the run's newest checkpoint: the ones written before are whole)"


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
    """The child's results by case, and the folder its runs wrote to (its tmpfs mounts are gone by now)."""
    root = tmp_path_factory.mktemp("disks")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("no private mount namespace here (unshare -rm): the injected cases below cover the errors")
    try:
        out = subprocess.run(["unshare", "-rm", sys.executable, str(HERE / "diskfault_child.py"), str(root)],
                             capture_output=True, text=True, timeout=240, cwd=HERE.parent)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"a run blocked on a full disk (no result in 240 s): {e.stdout}")
    cases = {r["case"]: r for r in map(json.loads, [s for s in out.stdout.splitlines() if s.startswith("{")])}
    assert len(cases) == 4, out.stdout + out.stderr
    return cases, root


def test_a_full_disk_under_tensorboard_is_one_error_not_a_hang(disks):
    cases, root = disks
    r = cases["tensorboard"]
    assert r["error"].startswith(f"NbtrainError: loop.logdir: cannot write '{root}/tb/r/events.out.tfevents."), r
    assert r["error"].endswith("': the disk is full (No space left on device) (free space on that disk or choose "
                               f"another logdir, {FIX}"), r
    files = r["files"][0]       # the checkpoints (on another disk): every epoch before kept, last.pt says why
    assert files["epoch_001.pt"]["epoch"] == 1 and files["best.pt"]["epoch"] >= 1
    assert files["last.pt"]["status"] == "error"
    assert files["last.pt"]["reason"] == "error: " + r["error"]
    h = nbtrain.fit(small_spec(epochs=8, checkpoint_dir=str(root / "ck1")), run_name="r", progress=False,
                    doctor=False, resume=root / "ck1" / "r" / "last.pt")    # and the run goes on from there
    assert h.status == "finished" and [e["epoch"] for e in h.epochs] == list(range(1, 9))


def test_a_full_disk_under_checkpoints_keeps_the_last_good_one(disks):
    cases, root = disks
    r = cases["checkpoints full"]
    assert r["error"] == (f"NbtrainError: loop.checkpoint_dir: cannot write '{root}/ck2/r/epoch_002.pt': the disk is "
                          f"full (free space on that disk or choose another checkpoint_dir, {FIX}")
    assert {k: v["epoch"] for k, v in r["files"][0].items()} == {"best.pt": 1, "epoch_001.pt": 1}   # no temp file
    record = json.loads((root / "logs2" / "r" / "nbtrain-run.json").read_text())     # the run record on its disk
    assert (record["status"], record["stop_reason"]) == ("error", "error: " + r["error"])
    assert record["epochs_done"] == 2     # epoch 2 was trained; its checkpoint could not be written


def test_a_read_only_disk_under_checkpoints_is_one_error(disks):
    cases, root = disks
    r = cases["checkpoints read-only"]
    assert r["error"] == (f"NbtrainError: loop.checkpoint_dir: cannot write '{root}/ck3/r/epoch_002.pt': the file "
                          f"system is read-only (make that folder writable or choose another checkpoint_dir, {FIX}")
    files = r["files"][0]
    assert {k: v["epoch"] for k, v in files.items() if v} == {"best.pt": 1, "epoch_001.pt": 1}
    assert set(files) - {"best.pt", "epoch_001.pt"} == {".nbtrain-lock"}   # a read-only folder keeps the lock (dead pid)


def test_a_full_disk_under_the_logs_is_one_error(disks):
    cases, root = disks
    r = cases["logs full"]     # the run record's rows or TensorBoard's events meet the full disk first
    assert r["error"].startswith(f"NbtrainError: loop.logdir: cannot write '{root}/logs4/r/"), r
    assert r["error"].endswith(f"the disk is full (No space left on device) (free space on that disk or choose another "
                               f"logdir, {FIX}"), r
    files = r["files"][0]
    assert files["last.pt"]["status"] == "error" and files["last.pt"]["reason"] == "error: " + r["error"]
    assert all(v["epoch"] >= 1 for v in files.values())
    assert r["record"] == {"status": "error", "stop_reason": "error: " + r["error"]}   # written over its own blocks


def test_an_injected_full_disk_under_checkpoints(tmp_path):
    """OSError(ENOSPC) from the saver (torch.save's place), after it wrote part of the file, at the second epoch."""
    calls = []

    def saver(obj, path):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        torch.save(obj, path)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(small_spec(epochs=3), progress=False, doctor=False,
                    callbacks=[Checkpoint(tmp_path, saver=saver)])
    assert str(e.value) == (f"loop.checkpoint_dir: cannot write '{tmp_path}/epoch_002.pt': the disk is full (No space "
                            f"left on device) (free space on that disk or choose another checkpoint_dir, {FIX}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "epoch_001.pt"]
    assert load_checkpoint(tmp_path / "epoch_001.pt")["epoch"] == 1


class FullFile:
    """An events file on a disk that fills after ``room`` bytes."""

    def __init__(self, f, room, code=errno.ENOSPC):
        self.f, self.room, self.code = f, room, code

    def write(self, b):
        self.room -= len(b)
        if self.room < 0:
            raise OSError(self.code, os.strerror(self.code))
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("code,says", [
    (errno.ENOSPC, "the disk is full (No space left on device) (free space on that disk"),
    (errno.EROFS, "the file system is read-only (Read-only file system) (make that folder writable")])
def test_an_injected_full_disk_under_tensorboard_does_not_block(tmp_path, code, says):
    """tensorboardX's writer thread meets OSError(ENOSPC) in its events file (or EROFS: a disk the kernel turned
    read-only after an error); before, the thread died and the next Queue.put blocked training forever; now the run
    ends with the error at the next hand-over."""
    def factory(run_dir):
        w = _writer(run_dir)
        rec = w.file_writer.event_writer._ev_writer._py_recordio_writer
        rec._writer = FullFile(rec._writer, 4000, code)
        return w
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(small_spec(epochs=30), progress=False, doctor=False,
                    callbacks=[TensorBoard(tmp_path / "tb", writer_factory=factory, budget=1)])
    assert str(e.value).startswith(f"loop.logdir: cannot write '{tmp_path}/tb/events.out.tfevents.")
    assert str(e.value).endswith(f"': {says} or choose another logdir, {FIX}")


class Dies:
    """The writer thread's queue (its side only), whose ``get`` fails at the ``at``-th event: the thread ends."""

    def __init__(self, q, at):
        self.q, self.at = q, at

    def get(self, *a):
        item = self.q.get(*a)
        self.at -= 1
        if self.at == 0:
            raise RuntimeError("injected: the queue failed")
        return item


def _break_event(w, at):
    """``write_event`` of the thread's events writer fails at the ``at``-th event (a bug, not the file)."""
    events, n = w.file_writer.event_writer._ev_writer, [at]
    write = events.write_event

    def failing(event):
        n[0] -= 1
        if n[0] == 0:
            raise ValueError("injected: an event that does not serialize")
        return write(event)
    events.write_event = failing


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("how,says", [
    ("event", "ValueError: injected: an event that does not serialize"),
    ("thread", "RuntimeError: the writer thread ended (its traceback, if any, is printed above)")])
def test_a_writer_thread_that_fails_otherwise_is_one_error_not_a_hang(tmp_path, how, says):
    """TensorBoard's writer thread fails not through its file: an event it cannot write, or the thread itself ends
    (before, its full queue blocked training forever). One error at the next hand-over; the checkpoints before it
    whole, last.pt says why, the events before it read back with TensorBoard's reader."""
    def factory(run_dir):
        w = _writer(run_dir)
        if how == "event":
            _break_event(w, 40)
        else:
            worker = w.file_writer.event_writer._worker
            worker._queue = Dies(worker._queue, 40)
        return w
    spec = small_spec(epochs=30, checkpoint_dir=str(tmp_path / "ck"))
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, run_name="r", progress=False, doctor=False,
                    callbacks=[TensorBoard(tmp_path / "tb", writer_factory=factory, budget=1)])
    events = next((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert str(e.value) == (f"loop.logdir: TensorBoard's writer thread failed: {says} ('{events}' holds the events "
                            "written before it, and the checkpoints written before are whole: resume from the run's "
                            "newest checkpoint; if it fails again, train without TensorBoard (logdir='') and report "
                            "the error)")
    ck = sorted(p.name for p in (tmp_path / "ck" / "r").glob("epoch_*.pt"))     # the newest kept (keep_last)
    done = [load_checkpoint(tmp_path / "ck" / "r" / n)["epoch"] for n in ck]
    assert done and done == [int(n[6:9]) for n in ck] and done[-1] < 30
    last = load_checkpoint(tmp_path / "ck" / "r" / "last.pt")["history"]
    assert last["status"] == "error" and last["stop_reason"] == f"error: NbtrainError: {e.value}"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(events)).Reload()
    upto = done[-1] - (how == "event")   # the event that failed may be the one with the newest checkpoint's epoch
    assert [s.step for s in acc.Scalars("epoch/loss")][:upto] == list(range(1, upto + 1))
