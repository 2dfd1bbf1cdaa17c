"""Faults in a real `nbtrain run` process: SIGINT at 10 random moments (some doubled) and kill -9.

After the interrupts the run is resumed from its checkpoint until it ends; the weights, the optimizer state and the
History then equal those of a run that never stopped, for every chain of interrupts (one that ends on its own
before a signal lands is compared too). After a kill -9 (no handler runs: no interrupted.pt, no last.pt) the newest
epoch_NNN.pt is there, holding every epoch that had ended, and `--resume auto` goes on from it to the straight
run's numbers.

Each run is tiny (iris, a 4-8-3 network with BatchNorm and Dropout, 12 batches an epoch, about 0.3 s of training)
and a fork of one server that imported nbtrain once (tests/cli_forks.py: `nbtrain.cli.main()` as `python -m nbtrain`
runs it); the last resume is a `python -m nbtrain run` of its own. The signals land anywhere in the training: in a
step, at a log point, in validation, in a checkpoint write, on the last batch of an epoch.

The reference run is such a process too, with the same one intra-op thread. What kept this test failing before was
the reference: it trained in the test process (one thread, conftest.py) while the interrupted runs were processes
on torch's default two threads, which sum in another order (the last bits of the weights differ) however exact the
resume. Each phase's interrupt on its own, in process: test_trust_runs.py::test_an_interrupt_at_any_phase_...
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import nbtrain
from nbtrain.spec import TrainSpec
from nbtrain.train.autoresume import newest_checkpoint

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
# one intra-op thread, as in this session (conftest.py): on a busy 2-core machine two OpenMP threads wait ~0.1 s
# for each other in every BatchNorm call of a tiny batch
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _spec(tmp_path, name: str, epochs: int = 6) -> Path:
    spec = TrainSpec.from_dict({
        "data": {"dataset": "iris", "batch_size": 10},
        "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "BatchNorm1d"}, {"type": "ReLU"},
                             {"type": "Dropout", "p": 0.2}, {"type": "Linear", "out_features": 3}]},
        "optim": {"type": "Adam", "lr": 0.02},
        "loop": {"epochs": epochs, "log_every": 5, "logdir": "", "checkpoint_dir": str(tmp_path / "ck"),
                 "run_name": name, "device": "cpu"}})
    path = tmp_path / f"{name}.json"
    spec.save(path)
    return path


@pytest.fixture(scope="module")
def forks():
    """The fork server (tests/cli_forks.py): each `nbtrain run` a fork of one process that imported nbtrain."""
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "cli_forks.py")], cwd=ROOT, text=True, env=ENV,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    yield p
    p.kill()                                     # nothing to finish: its children have ended
    p.wait(30)


class Run:
    """One `nbtrain run` (a fork of the server); ``log`` holds its stdout and stderr (the progress bar too)."""
    count = 0

    def __init__(self, forks, path, resume=None):
        argv = ["run", str(path)] + (["--resume", str(resume)] if resume else [])
        Run.count += 1
        self.forks, self.log = forks, Path(f"{path}.{Run.count}.log")
        forks.stdin.write(json.dumps([argv, str(self.log)]) + "\n")
        forks.stdin.flush()
        self.pid, self.rc = int(forks.stdout.readline()), None

    def started(self, limit=60, marker=b"epoch ") -> None:
        """Until an epoch has started (its progress bar shows; ``marker``: this one), or the run ended."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if self.log.exists() and marker in self.log.read_bytes():
                return
            time.sleep(0.01)

    def signal(self, sig) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:    # it ended already
            pass

    def wait(self) -> tuple[int, str]:
        if self.rc is None:
            self.rc = int(self.forks.stdout.readline())
        return self.rc, self.log.read_text(errors="replace")


def _resume_point(ck: Path):
    """interrupted.pt if the last process wrote one, else last.pt; None when nothing was written yet."""
    points = [ck / n for n in ("interrupted.pt", "last.pt") if (ck / n).exists()]
    return max(points, key=lambda p: p.stat().st_mtime_ns) if points else None


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _assert_same_run(ref: dict, path: Path) -> None:
    """The checkpoint at ``path`` holds the straight run's weights, optimizer state and epoch and step logs."""
    got = nbtrain.load_checkpoint(path)
    assert _equal(ref["model"], got["model"]), path
    assert _equal(ref["optimizer"]["state"], got["optimizer"]["state"]), path
    assert got["history"]["epochs"] == ref["history"]["epochs"] and got["history"]["steps"] == ref["history"]["steps"]


def _straight(tmp_path, forks, epochs: int = 6) -> tuple[dict, float]:
    """An uninterrupted run's last.pt and how long its training took (from its first progress bar)."""
    run = Run(forks, _spec(tmp_path, "straight", epochs))
    run.started()
    t0 = time.monotonic()
    assert run.wait()[0] == 0
    return nbtrain.load_checkpoint(tmp_path / "ck" / "straight" / "last.pt"), time.monotonic() - t0


def test_sigint_at_10_random_moments_then_resume_equals_a_straight_run(tmp_path, forks):
    ref, span = _straight(tmp_path, forks)       # the signals land within its training time
    rnd, path, ck = random.Random(1234), _spec(tmp_path, "cut"), tmp_path / "ck" / "cut"
    landed, resume, doubled, whole = [], None, 0, 0
    while len(landed) < 10:                     # (the seed doubles 4 of the first 10 signals)
        run = Run(forks, path, resume)
        run.started()
        time.sleep(rnd.uniform(0.0, 0.8 * span))
        run.signal(signal.SIGINT)
        if rnd.random() < 0.3:                   # doubled, 50 ms apart
            time.sleep(0.05)
            run.signal(signal.SIGINT)
            doubled += 1
        rc, log = run.wait()
        assert "Traceback" not in log and rc in (0, 130), (rc, log[-2000:])
        if rc == 0:                              # it finished before the signal: compare it, start a new chain
            _assert_same_run(ref, ck / "last.pt")
            whole += 1
            shutil.rmtree(ck)
            resume = None
            continue
        resume = _resume_point(ck)
        part = nbtrain.load_checkpoint(resume)
        landed.append((part["step"], (part["partial"] or {}).get("batches", 0)))
    out = subprocess.run([sys.executable, "-m", "nbtrain", "run", str(path), "--resume", str(resume)], cwd=ROOT,
                         env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # the last resume, a `python -m nbtrain run` of its own
    _assert_same_run(ref, ck / "last.pt")
    assert any(b for _, b in landed) and doubled          # some mid-epoch, some doubled
    print(f"10 SIGINTs ({doubled} doubled) left checkpoints at (step, batches of the epoch done):", landed,
          f"; {whole} chains ended on their own first, each equal to the straight run")


def _epochs_shown(log: str) -> list[int]:
    """The epochs whose progress bar the log shows (``epoch N/E``), in order."""
    return [int(n) for n in re.findall(r"epoch (\d+)/\d+", log)]


def test_kill_9_leaves_the_last_epoch_and_resume_auto_ends_as_a_straight_run(tmp_path, forks):
    """kill -9 after 2 to 6 epochs: the newest epoch_NNN.pt holds every epoch that ended, every file loads, and
    `--resume auto` (the lock of the dead process taken over) starts at the next epoch and ends with the straight
    run's numbers."""
    epochs, rnd = 8, random.Random(99)
    ref, span = _straight(tmp_path, forks, epochs)
    for k in range(4):
        path, ck = _spec(tmp_path, f"killed{k}", epochs), tmp_path / "ck" / f"killed{k}"
        run = Run(forks, path)
        run.started(marker=b"epoch 3/")                   # two epochs have ended
        time.sleep(rnd.uniform(0.0, 0.4 * span))
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc, log = run.wait()
        assert rc == -signal.SIGKILL, (rc, log[-2000:])    # (the run takes longer than 0.4 of itself)
        ended = max(_epochs_shown(log)) - 1                 # epochs whose end had passed when it died
        assert not (ck / "last.pt").exists() and not (ck / "interrupted.pt").exists()
        for f in ck.glob("*.pt"):
            nbtrain.load_checkpoint(f)                      # raises if half-written
        newest = newest_checkpoint(ck)
        assert newest is not None and re.fullmatch(r"epoch_\d{3}\.pt", newest.name), sorted(ck.iterdir())
        done = int(newest.name[6:9])
        assert done >= ended >= 2 and nbtrain.load_checkpoint(newest)["epoch"] == done
        again = Run(forks, path, resume="auto")
        rc, log = again.wait()
        assert rc == 0 and "Traceback" not in log, log[-2000:]
        assert _epochs_shown(log)[0] == done + 1            # it went on from the newest epoch, not from scratch
        _assert_same_run(ref, ck / "last.pt")
