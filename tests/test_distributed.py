"""torchrun with 2 CPU processes (gloo, DistributedSampler, DDP) against one process on the same global batch.

Tolerance: with shuffle off and no dropout, 2 ranks x 50 samples per step see exactly the samples of one
process's 100-sample step (DistributedSampler deals them out round-robin) and DDP averages the gradients,
so the two trajectories differ only by float summation order: the losses agree to a relative 1e-4."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import nbtrain
from nbtrain.spec import LayerSpec, ModelSpec, TrainSpec

TOL = 1e-4
ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, batch_size):
    spec = TrainSpec.default()
    d = spec.data
    d.dataset, d.image_shape, d.size, d.num_classes = "synthetic", [1, 8, 8], 1000, 10
    d.image_size, d.train_transforms, d.val_transforms = 0, [], []
    d.shuffle, d.batch_size, d.val_split = False, batch_size, 0.2
    spec.model = ModelSpec(layers=[LayerSpec("Flatten"), LayerSpec("Linear", params={"out_features": 32}),
                                   LayerSpec("ReLU"), LayerSpec("Linear", params={"out_features": 10})])
    spec.optim.type, spec.optim.lr = "SGD", 0.1
    spec.loop.epochs, spec.loop.log_every = 3, 4
    spec.loop.logdir, spec.loop.checkpoint_dir = str(tmp_path / "runs"), str(tmp_path / "ck")
    spec.loop.run_name, spec.loop.histograms, spec.loop.feature_maps = "ddp", False, False
    return TrainSpec.from_dict(spec.to_dict())


def _torchrun(args, limit=420):
    """torchrun --standalone (its rendezvous store on a port the OS picks). On the time limit (a safety net for a
    hung rendezvous, far above a loaded CI's minute) torchrun gets SIGTERM, on which it stops its workers (they
    run in sessions of their own, out of reach of a kill of torchrun's group), so none is left over to load the
    CPU for the tests after it; and what they printed is shown."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = "", "(torchrun ignored SIGTERM)"
        pytest.fail(f"torchrun still running after {limit} s\n--- stdout\n{stdout[-2000:]}\n--- stderr\n{stderr[-4000:]}")
    return proc.returncode, stdout, stderr


@pytest.mark.slow
def test_torchrun_two_cpu_processes_match_one(tmp_path):
    path = tmp_path / "spec.json"
    _spec(tmp_path, 50).save(path)
    rc, stdout, stderr = _torchrun(["--nproc_per_node", "2", "-m", "nbtrain", "run", str(path)])
    assert rc == 0, f"torchrun exited with {rc}\n--- stdout\n{stdout[-2000:]}\n--- stderr\n{stderr[-4000:]}"
    assert stdout.count("trained 3 epoch(s)") == 1                          # rank 0 reports, rank 1 is quiet
    ddp_h = nbtrain.load_checkpoint(tmp_path / "ck" / "ddp" / "last.pt")["history"]
    ddp = ddp_h["epochs"]
    assert sorted(os.listdir(tmp_path / "runs")) == ["ddp"]
    cm, worst = ddp_h["confusion"][-1], ddp_h["top_losses"]       # summed over the ranks, the worst of both
    assert sum(cm[i][i] for i in range(len(cm))) / sum(map(sum, cm)) == pytest.approx(ddp[-1]["val_accuracy"])
    assert len(worst) == 16 and {w["index"] % 2 for w in worst} == {0, 1} and worst[0]["loss"] >= worst[-1]["loss"]

    single = nbtrain.fit(_spec(tmp_path / "single", 100), progress=False).epochs
    for a, b in zip(ddp, single):
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert a[k] == pytest.approx(b[k], rel=TOL), (a["epoch"], k)
    assert [e["step"] for e in ddp] == [8, 16, 24]                        # 400 samples per rank / 50
    assert single[-1]["val_loss"] < single[0]["val_loss"]


@pytest.fixture(scope="module")
def stop_and_swa(tmp_path_factory):
    """One torchrun launch of two ranks for the two tests below (tests/ddp_stop_swa_script.py): a stop asked on
    rank 0 alone, then SWA with BatchNorm; what each rank saw, in the launch's folder."""
    tmp = tmp_path_factory.mktemp("ddp")
    stop = tmp / "stop.json"
    _spec(tmp / "stop", 50).save(stop)                  # 8 steps an epoch per rank, a log point every 4
    spec = _spec(tmp / "swa", 50)
    spec.model = ModelSpec(layers=[LayerSpec("Flatten"), LayerSpec("Linear", params={"out_features": 32}),
                                   LayerSpec("BatchNorm1d"), LayerSpec("ReLU"),
                                   LayerSpec("Linear", params={"out_features": 10})])
    spec.sched.swa, spec.sched.swa_start = True, 1
    spec.data.shuffle = True                              # the ranks' shards differ from epoch to epoch
    swa = tmp / "swa.json"
    TrainSpec.from_dict(spec.to_dict()).save(swa)
    rc, stdout, stderr = _torchrun(["--nproc_per_node", "2", str(ROOT / "tests" / "ddp_stop_swa_script.py"), str(stop),
                                    str(swa), str(tmp)], limit=240)
    assert rc == 0, f"torchrun exited with {rc}\n--- stdout\n{stdout[-2000:]}\n--- stderr\n{stderr[-4000:]}"
    return tmp


@pytest.mark.slow
def test_a_stop_asked_on_one_rank_stops_every_rank_at_the_next_log_point(stop_and_swa):
    """Before, rank 0 left the loop at once and rank 1 waited forever in its next all_reduce."""
    ranks = [json.loads((stop_and_swa / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks == [{"rank": 0, "steps": [4], "reason": "rank 0 had enough"},
                     {"rank": 1, "steps": [4], "reason": "stop asked on another rank"}]


@pytest.mark.slow
def test_swa_batchnorm_statistics_are_the_same_on_every_rank(stop_and_swa):
    """update_bn runs on each rank's shard; the statistics are averaged so every rank ends with one model."""
    import torch
    a, b = (torch.load(stop_and_swa / f"rank{r}.pt") for r in (0, 1))
    assert a.keys() == b.keys() and "2.running_mean" in a
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert a["2.running_var"].min() > 0 and not torch.equal(a["2.running_mean"], torch.zeros(32))
