"""torchrun beyond one clean run: a worker killed with SIGKILL under --max-restarts and --resume auto (either rank),
a terminal's Ctrl-C, and two torchrun agents on this machine as two "nodes" (c10d rendezvous on 127.0.0.1).

Each run is a tiny MLP on synthetic 8x8 data, 1 thread per process: a few seconds of CPU. The numbers are compared
with one run of the same spec, two processes on one node, never interrupted (rank 0's last.pt history, read back
with load_checkpoint; made once for the module)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import nbtrain
from nbtrain.spec import LayerSpec, ModelSpec, TrainSpec

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _spec(tmp_path, size=1000, epochs=3):
    spec = TrainSpec.default()
    d = spec.data
    d.dataset, d.image_shape, d.size, d.num_classes = "synthetic", [1, 8, 8], size, 10
    d.image_size, d.train_transforms, d.val_transforms = 0, [], []
    d.shuffle, d.batch_size, d.val_split = True, 10, 0.2          # DistributedSampler reshuffles every epoch
    spec.model = ModelSpec(layers=[LayerSpec("Flatten"), LayerSpec("Linear", params={"out_features": 32}),
                                   LayerSpec("ReLU"), LayerSpec("Dropout", params={"p": 0.3}),   # draws from the RNG
                                   LayerSpec("Linear", params={"out_features": 10})])
    spec.optim.type, spec.optim.lr = "SGD", 0.05
    spec.loop.epochs, spec.loop.log_every = epochs, 8
    spec.loop.logdir, spec.loop.checkpoint_dir = "", str(tmp_path / "ck")
    spec.loop.histograms = spec.loop.feature_maps = False
    spec.loop.keep_last = 10
    path = tmp_path / "spec.json"
    TrainSpec.from_dict(spec.to_dict()).save(path)
    return path


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc, limit=300):
    """Wait for a torchrun agent; past the limit SIGTERM (torchrun stops its workers), then show its output."""
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"torchrun still running after {limit} s\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-4000:]}")
    assert proc.returncode == 0, f"torchrun exited with {proc.returncode}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-4000:]}"
    return out, err


def _epochs(tmp_path, name):
    return nbtrain.load_checkpoint(tmp_path / "ck" / name / "last.pt")["history"]["epochs"]


def _same(a, b, rel):
    assert [e["epoch"] for e in a] == [e["epoch"] for e in b]
    for x, y in zip(a, b):
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert x[k] == pytest.approx(y[k], rel=rel, abs=1e-12), (x["epoch"], k, x[k], y[k])


def _worker(agent: psutil.Process, rank: int, limit=120):
    """The worker process of ``rank`` under a torchrun agent (read from its environment)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        for p in agent.children(recursive=True):
            try:
                if p.environ().get("RANK") == str(rank) and "nbtrain" in " ".join(p.cmdline()):
                    return p
            except psutil.Error:
                continue
        time.sleep(0.05)
    pytest.fail(f"no worker of rank {rank} under torchrun after {limit} s")


def _wait_for(path: Path, proc, limit=180):
    end = time.monotonic() + limit
    while not path.exists():
        assert proc.poll() is None, f"torchrun ended (rc {proc.returncode}) before {path.name} was written"
        assert time.monotonic() < end, f"no {path} after {limit} s"
        time.sleep(0.02)


def _run(path, name):
    return ["--standalone", "--nproc_per_node", "2", "-m", "nbtrain", "run", str(path), "--resume", "auto",
            "--run-name", name]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The spec (shuffled data, Dropout, 4 epochs; 40 steps an epoch per rank: a kill lands mid-run) and the
    epochs of its uninterrupted two-rank run. 1000 samples in batches of 10, not 4000 in 25s: every rank of every
    start makes the synthetic set (torchvision FakeData, about 0.5 ms of CPU a sample), the steps cost little."""
    tmp = tmp_path_factory.mktemp("elastic")
    path = _spec(tmp, size=1000, epochs=4)
    out, _ = _finish(_start(_run(path, "ref")))
    assert "no checkpoint in" in out and "trained 4 epoch(s)" in out
    return path, _epochs(tmp, "ref")


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1])    # 1 dies, rank 0 (which writes the checkpoints) lives on with an error: the
                                            # harder path; notebook 08 kills rank 0 (one kill keeps CI under 20 min)
def test_a_killed_worker_restarts_every_rank_from_the_checkpoint_exactly(reference, victim):
    path, ref = reference
    tmp = path.parent
    proc = _start(["--max-restarts", "1", "--monitor-interval", "0.1", *_run(path, f"kill{victim}")])
    worker = _worker(psutil.Process(proc.pid), rank=victim)
    _wait_for(tmp / "ck" / f"kill{victim}" / "epoch_001.pt", proc)
    worker.send_signal(signal.SIGKILL)
    out, err = _finish(proc)
    assert f"failed (exitcode: -9) local_rank: {victim}" in err, err[-3000:]   # torchrun saw the kill, restarted all
    resumed = [line for line in out.splitlines() if line.startswith("resuming from ")]
    assert len(resumed) == 1 and "/epoch_00" in resumed[0], out   # an epoch's checkpoint: no last.pt of the failed round
    assert int(resumed[0].rsplit("epoch_", 1)[1][:3]) < 4         # it went on from a checkpoint mid-run
    _same(_epochs(tmp, f"kill{victim}"), ref, rel=1e-6)


@pytest.mark.slow
def test_ctrl_c_under_torchrun_is_one_line_and_every_rank_stops_at_one_step_that_resumes_exactly(reference):
    """A terminal's Ctrl-C: SIGINT to the whole group (`nbtrain torchrun`'s agent and both workers); the run is
    resumed with the command rank 0 printed."""
    path, ref = reference
    tmp = path.parent
    proc = subprocess.Popen([sys.executable, "-m", "nbtrain", "torchrun", *_run(path, "int")], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(tmp / "ck" / "int" / "epoch_001.pt", proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert err.count("nbtrain: torchrun stopped by SIGINT; its workers have ended") == 1
    assert "stopped: interrupted (SIGINT) at epoch " in out and out.count("interrupted: the run ended cleanly") == 1
    stopped = tmp / "ck" / "int" / "interrupted.pt"
    resume = (f"interrupted: the run ended cleanly; resume it: nbtrain torchrun --standalone --nproc_per_node 2 "
              f"-m nbtrain run {path} --resume {stopped} --run-name int")
    assert resume in out.splitlines(), out[-2000:]
    ck = nbtrain.load_checkpoint(stopped)
    assert ck["step"] % 8 == 0            # every rank stopped at one log point (log_every 8), not each on its own
    again, _ = _finish(subprocess.Popen([sys.executable, "-m", *resume.split("resume it: ")[1].split()], cwd=ROOT,
                                        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert "trained 4 epoch(s)" in again
    _same(_epochs(tmp, "int"), ref, rel=1e-6)


@pytest.mark.slow
def test_a_killed_peer_is_named_by_the_surviving_rank_not_gloos_text(tmp_path):
    """torchrun, no restarts: rank 1 gets SIGKILL mid-run; rank 0, in a collective with it, says which rank ended and
    how to go on (not gloo's "Connection closed by peer" and a traceback; a rank's error is printed by nbtrain's CLI
    under plain torchrun too); `nbtrain torchrun` ends in torchrun's report without torchrun's own traceback."""
    path = _spec(tmp_path, size=1000, epochs=3)
    proc = subprocess.Popen([sys.executable, "-m", "nbtrain", "torchrun", "--standalone", "--nproc_per_node", "2",
                             *_run(path, "lost")[3:], "--logdir", str(tmp_path / "logs")], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    worker = _worker(psutil.Process(proc.pid), rank=1)
    _wait_for(tmp_path / "ck" / "lost" / "epoch_001.pt", proc)
    pid = worker.pid
    # rank 0 in a collective with it: rank 1 is held (SIGSTOP) until rank 0 waits for it in a step's all-reduce,
    # then killed. Killed while rank 0 was between collectives (an epoch's start), torchrun's agent, which looks
    # every 0.1 s, could end rank 0 (SIGTERM) before rank 0 met the closed connection (seen with two test modules
    # side by side: rank 0 then said "stopped by torchrun (SIGTERM)", which is right too, but not this test's case)
    worker.send_signal(signal.SIGSTOP)
    time.sleep(1.0)                      # a step takes milliseconds: rank 0 is waiting in its all-reduce by then
    worker.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode != 0 and "failed (exitcode: -9) local_rank: 1" in err, err[-3000:]
    said = [line for line in err.splitlines() if line.startswith("nbtrain: error:")]
    assert len(said) == 1 and said[0].startswith(
        f"nbtrain: error: torchrun: rank 1 (process {pid} on {socket.gethostname()}) ended in the middle of the run, "
        "so this rank cannot go on (the process group: Conn"), err[-3000:]
    assert said[0].endswith(
        "(torchrun's report names how it ended, and the checkpoints written before are whole: run it with "
        "--max-restarts N and --resume auto --run-name NAME, and torchrun restarts every rank from the run's newest "
        "checkpoint (nbtrain torchrun --nproc_per_node 2 --max-restarts 3 -m nbtrain run SPEC.json --resume auto "
        "--run-name NAME))"), said[0]
    assert "Traceback" not in err and "pair.cc" not in err and "Root Cause (first observed failure)" in err, err[-3000:]
    # the loop itself made the error clear (a script calling fit() under torchrun gets it too): the run record says it
    record = json.loads((tmp_path / "logs" / "lost" / "nbtrain-run.json").read_text())
    assert record["status"] == "error" and record["stop_reason"] == "error: NbtrainError: " + said[0][
        len("nbtrain: error: "):], record


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_local_nodes_give_the_numbers_of_one_node_with_two_processes(reference):
    path, one = reference                                     # one node, two processes: the reference run
    tmp = path.parent
    port = _free_port()
    node = ["--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint",
            f"127.0.0.1:{port}", "--rdzv_id", "nbtrain-test", "--local_addr", "127.0.0.1"]
    agents = [_start([*node, "-m", "nbtrain", "run", str(path), "--run-name", "two"]) for _ in range(2)]
    outs = [_finish(a)[0] for a in agents]
    assert sum(o.count("trained 4 epoch(s)") for o in outs) == 1          # rank 0 reports, on one of the nodes
    _same(_epochs(tmp, "two"), one, rel=1e-6)
