"""Faults in a real `nbtrain run` process: SIGINT at random moments (some doubled) and kill -9.

After every interrupt the run is resumed from its checkpoint; in the end the weights, the optimizer state and the
History equal those of a run that never stopped. A kill -9 at any moment never leaves last.pt unloadable.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import nbtrain
from test_loop_spec import small_spec

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _spec(tmp_path, name):
    spec = small_spec(epochs=6, checkpoint_dir=str(tmp_path / "ck"), log_every=5, run_name=name)
    spec.data.batch_size = 32
    path = tmp_path / f"{name}.json"
    spec.save(path)
    return spec, path


def _start(path, resume=None):
    cmd = [sys.executable, "-m", "nbtrain", "run", str(path)] + (["--resume", str(resume)] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_training(p, ck_dir, limit=120):
    """Until a fresh run has claimed its folder (data and model built: training is about to start)."""
    t0 = time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < limit:
        if ck_dir.exists():
            return
        time.sleep(0.05)


def _resume_point(ck):
    for name in ("interrupted.pt", "last.pt"):
        if (ck / name).exists():
            return ck / name
    return None


def _equal_state(a, b):
    for k in a:
        if isinstance(a[k], torch.Tensor):
            if not torch.equal(a[k], b[k]):
                return False
        elif isinstance(a[k], dict):
            if not _equal_state(a[k], b[k]):
                return False
        elif a[k] != b[k]:
            return False
    return True


@pytest.mark.xfail(reason="issue 13, open: after 20 random SIGINTs to real `nbtrain run` processes and their resumes, "
                          "the final weights still differ slightly from a straight run's (in-process interrupts at "
                          "batch boundaries resume exactly: tests/test_trust_runs.py); the interrupt point that "
                          "breaks it is not found yet", strict=False)
def test_sigint_at_random_moments_then_resume_equals_a_straight_run(tmp_path):
    spec, _ = _spec(tmp_path, "straight")
    straight = nbtrain.fit(spec, progress=False)
    ref = nbtrain.load_checkpoint(tmp_path / "ck" / "straight" / "last.pt")
    rnd = random.Random(1234)
    _, path = _spec(tmp_path, "cut")
    ck_dir, sent, resume = tmp_path / "ck" / "cut", 0, None
    while sent < 20:
        p = _start(path, resume)
        if resume is None:
            _wait_training(p, ck_dir)
            time.sleep(rnd.uniform(0.0, 2.5))
        else:                                    # some land while it starts up: it leaves quietly, exit 130
            time.sleep(rnd.uniform(1.0, 5.0))
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            if rnd.random() < 0.3:               # doubled, 50 ms apart
                time.sleep(0.05)
                p.send_signal(signal.SIGINT)
            sent += 1
        out, err = p.communicate(timeout=120)
        assert "Traceback" not in err, err[-2000:]
        assert p.returncode in (0, 130), (p.returncode, err[-2000:])
        resume = _resume_point(ck_dir)
        if p.returncode == 0:                    # finished before the signal: start the chain over
            shutil.rmtree(ck_dir)
            resume = None
    p = _start(path, resume)                     # then let the last resume run to its end
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-2000:]
    got = nbtrain.load_checkpoint(ck_dir / "last.pt")
    assert _equal_state(ref["model"], got["model"])
    assert _equal_state(ref["optimizer"]["state"], got["optimizer"]["state"])
    assert got["history"]["epochs"] == straight.to_dict()["epochs"]


def test_kill_9_at_random_moments_never_leaves_last_pt_unloadable(tmp_path):
    _, path = _spec(tmp_path, "killed")
    rnd = random.Random(99)
    for _ in range(6):
        p = _start(path)
        _wait_training(p, tmp_path / "ck" / "killed")
        time.sleep(rnd.uniform(0.0, 3.0))
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        last = tmp_path / "ck" / "killed" / "last.pt"
        if last.exists():
            nbtrain.load_checkpoint(last)          # raises if half-written
        for f in (tmp_path / "ck" / "killed").glob("*.pt"):
            nbtrain.load_checkpoint(f)
