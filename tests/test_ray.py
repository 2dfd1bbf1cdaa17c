"""fit(spec, ray=dict(num_workers=N)) (or processes=N, engine="ray"): nbtrain's loop on Ray Train workers, rank 0's
run played to the driver's display, the numbers of torchrun's processes=N, and a killed worker resumed exactly from
nbtrain's checkpoint.

One local Ray runtime serves the whole module, started as fit() starts one (rayrun.start_ray: no dashboard, Ray
Train's metrics and preemption watcher off, each of which costs a process or seconds of CPU per run), on 2 CPUs. The
spec is the default one (the small CNN, 28x28 images, batches of 64) on synthetic images of the digits' number and shape
(1797: 12 steps an epoch per rank, as digits), which spares every worker the import of scikit-learn (a second of CPU,
ten worker starts in this module); TensorBoard off, a log point every 4 steps and 4 epochs; each worker runs 1 thread
(Ray gives a 1-CPU worker OMP_NUM_THREADS=1; the torchrun run is given the same). Without Ray installed the module is
skipped, unless NBTRAIN_REQUIRE_RAY=1 (CI) makes that a failure."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.spec import TrainSpec
from nbtrain.train.callbacks import Callback
from nbtrain.train.rayrun import INSTALL, LOCAL_TRAIN_ENV, ray_options, require_ray, start_ray, wants_ray

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 4
KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
POLL = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"


def _spec(tmp_path, name):
    spec = TrainSpec.default()
    d = spec.data
    d.dataset, d.size, d.image_shape = "synthetic", 1797, [1, 28, 28]     # the digits' number and shape, no sklearn
    spec.loop.epochs, spec.loop.log_every, spec.loop.run_name = EPOCHS, 4, name
    spec.loop.logdir, spec.loop.checkpoint_dir = "", str(tmp_path / "ck")
    return TrainSpec.from_dict(spec.to_dict())


class Display(Callback):
    """What the driver plays, recorded; ``act(state)`` at each log point (the kill)."""

    def __init__(self, act=None):
        self.control, self.external_control = None, False
        self.seen, self.act = [], act

    def on_fit_start(self, state):
        self.seen.append(("start", state.epochs, state.steps_per_epoch))

    def on_log(self, state, logs):
        self.seen.append(("log", state.epoch, state.step))
        if self.act is not None:
            self.act(state)

    def on_epoch_end(self, state, logs):
        self.seen.append(("epoch", logs["epoch"], logs["loss"]))

    def on_fit_end(self, state):
        self.seen.append(("end", state.stop_reason))


@pytest.fixture(scope="module")
def ray_runtime():
    try:
        ray = require_ray()
    except NbtrainError as e:
        if os.environ.get("NBTRAIN_REQUIRE_RAY") == "1":
            pytest.fail(f"NBTRAIN_REQUIRE_RAY=1 and Ray cannot be used: {e}")
        pytest.skip(str(e))
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "OMP_NUM_THREADS", POLL, *LOCAL_TRAIN_ENV)}
    os.environ.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",    # the workers import this checkout
                       POLL: "0.5"})         # Ray's controller takes reports within 0.5 s (default 2 s)
    start_ray(ray, num_cpus=2)               # fit()'s own start (tried again when a busy machine's Ray timed out)
    yield ray
    ray.shutdown()
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def ray_run(ray_runtime, tmp_path_factory):
    """One uninterrupted Ray run of 2 workers: (its History, what the driver's display saw)."""
    shown = Display()
    h = nbtrain.fit(_spec(tmp_path_factory.mktemp("ray"), "ray-once"), ray=dict(num_workers=2), dashboard=shown)
    return h, shown


def _same(a, b, rel):
    assert [e["epoch"] for e in a.epochs] == [e["epoch"] for e in b.epochs] == list(range(1, EPOCHS + 1))
    for x, y in zip(a.epochs, b.epochs):
        for k in KEYS:
            assert x[k] == pytest.approx(y[k], rel=rel, abs=1e-12), (x["epoch"], k)


@pytest.mark.slow
def test_ray_workers_give_torchruns_numbers_and_the_driver_shows_the_run(ray_run, tmp_path, monkeypatch):
    h, shown = ray_run
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    ref = nbtrain.fit(_spec(tmp_path, "torchrun"), processes=2, dashboard=False, progress=False)
    _same(h, ref, 1e-5)
    assert h.status == "finished" and h.run_name == "ray-once"
    # the driver's display saw the run as it went: the start, log points in every epoch, each epoch's numbers, the end
    assert shown.seen[0] == ("start", EPOCHS, 12)           # 1438 training images, 2 ranks, batches of 64
    assert {e for kind, e, *_ in shown.seen if kind == "log"} == set(range(EPOCHS))
    assert [(e, pytest.approx(loss)) for kind, e, loss in (s for s in shown.seen if s[0] == "epoch")] == \
        [(r["epoch"], r["loss"]) for r in h.epochs]
    assert shown.seen[-1][0] == "end"


@pytest.mark.slow
def test_a_killed_ray_worker_is_restarted_and_resumes_exactly(ray_run, tmp_path):
    spec = _spec(tmp_path, "ray-kill")
    lock = tmp_path / "ck" / "ray-kill" / ".nbtrain-lock" / "owner"
    storage = tmp_path / "ck" / ".ray"
    killed = []

    def kill_rank0_in_epoch_2(state):         # epoch 2 began after rank 0 reported epoch 1's checkpoint to Ray
        if state.epoch >= 1 and not killed:
            # Ray takes a reported checkpoint when its controller next polls the workers (every RAY_TRAIN_HEALTH_
            # CHECK_INTERVAL_S): a worker lost before that loses the report too (the group then starts over, with the
            # same final numbers). Wait for the controller's record of it, so that the restart resumes.
            end = time.monotonic() + 60
            while not list(storage.glob("*/checkpoint_manager_snapshot.json")) and time.monotonic() < end:
                time.sleep(0.05)
            assert list(storage.glob("*/checkpoint_*")), "no checkpoint reported to Ray before the kill"
            pid = int(lock.read_text().split()[1])           # rank 0's process (it holds the run folder's lock)
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, state.epoch, state.step))

    shown = Display(kill_rank0_in_epoch_2)
    h = nbtrain.fit(spec, processes=2, engine="ray", dashboard=shown)
    assert killed and killed[0][1] < EPOCHS - 1, killed
    assert not os.path.exists(f"/proc/{killed[0][0]}") or "Z" in open(f"/proc/{killed[0][0]}/stat").read().split()[2]
    _same(h, ray_run[0], 1e-6)                 # the same numbers as the run that was never killed
    assert h.status == "finished" and [s for s in shown.seen if s[0] == "start"] == [shown.seen[0]]
    restarted = [n for n in h.notes if n.startswith("Ray restarted the workers")]
    assert len(restarted) == 1 and int(restarted[0].split("epoch ")[1].split()[0]) in range(1, killed[0][1] + 1), \
        restarted                              # resumed from a reported checkpoint (epoch >= 1), not started over


@pytest.mark.slow
def test_stop_from_the_drivers_display_stops_every_ray_worker_with_a_checkpoint(ray_runtime, tmp_path):
    stopped = []

    def click_stop_in_epoch_2(state):          # what the Dashboard's Stop button calls, from the driver's thread
        if state.epoch >= 1 and not stopped:
            shown.control.stop()
            stopped.append(state.step)

    shown = Display(click_stop_in_epoch_2)
    h = nbtrain.fit(_spec(tmp_path, "ray-stop"), processes=2, engine="ray", dashboard=shown)
    assert stopped and h.status == "stopped" and h.stop_reason == "stopped by you"
    assert len(h.epochs) < EPOCHS and shown.seen[-1] == ("end", "stopped by you")
    assert (tmp_path / "ck" / "ray-stop" / "last.pt").is_file()     # every rank agreed on the step rank 0 saved


# -- bad values, without a Ray runtime -------------------------------------------------------------------------
def test_an_unknown_engine_is_one_clear_error(tmp_path):
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(_spec(tmp_path, "x"), processes=2, engine="dask")
    assert str(e.value) == ("fit(engine=...): unknown engine 'dask' (use 'torchrun' (processes on this machine, the "
                            "default) or 'ray' (Ray Train workers on this machine or a Ray cluster: "
                            'pip install "nbtrain[ray]"))')


def _error(tmp_path, **kw) -> str:
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(_spec(tmp_path, "x"), **kw)
    return str(e.value)


def test_ray_needs_a_number_of_workers_and_arguments_that_agree(tmp_path):
    """The issue's form ray=dict(num_workers=N) and the form processes=N, engine="ray" are one setting: a
    conflict is one error that says what, where and how to fix it (no Ray started: the checks come first)."""
    assert _error(tmp_path, engine="ray") == ("fit(engine='ray'): engine='ray' needs the number of workers (give it "
                                              "as ray=dict(num_workers=2) (or processes=2))")
    assert _error(tmp_path, ray=dict(use_gpu=False)) == ("fit(ray=...): ray= needs num_workers (give how many Ray "
                                                         "Train workers to start, e.g. ray=dict(num_workers=2))")
    assert _error(tmp_path, ray=dict(num_workers=3), processes=2) == (
        "fit(ray=..., processes=...): ray=dict(num_workers=3) and processes=2 disagree (give the number once: "
        "ray=dict(num_workers=N) (processes=N is the same for torchrun))")
    assert _error(tmp_path, ray=dict(num_workers=2), engine="torchrun") == (
        "fit(ray=..., engine=...): ray= runs the workers on Ray Train, engine='torchrun' on torchrun (leave engine "
        "out with ray= (or use processes=N without ray= for torchrun))")
    assert _error(tmp_path, ray=dict(num_workers=0)) == (
        "fit(ray=...): the number of Ray Train workers must be a whole number >= 1, got 0 (e.g. "
        "ray=dict(num_workers=2) (one per GPU on a GPU cluster))")
    assert _error(tmp_path, ray=2).startswith("fit(ray=...): ray= takes a dict of Ray settings, got int (e.g. ")
    assert wants_ray(None, None, {"num_workers": 2}) and wants_ray("ray", 2, {"num_workers": 2})
    assert wants_ray("ray", 2, None) and not wants_ray("torchrun", 2, None) and not wants_ray(None, 2, None)


def test_the_issues_form_reaches_ray_with_its_number_of_workers(monkeypatch, tmp_path):
    """fit(spec, ray=dict(num_workers=2)) takes the Ray path (here: Ray "missing", so the error says so) with N=2."""
    from nbtrain.train import rayrun
    monkeypatch.setitem(sys.modules, "ray", None)          # import ray -> ImportError
    assert _error(tmp_path, ray=dict(num_workers=2, use_gpu=False)).endswith(f"(install it: {INSTALL})")
    assert rayrun.workers(None, {"num_workers": 2}) == rayrun.workers(2, None) == rayrun.workers(2, {}) == 2


def test_ray_settings_are_checked(tmp_path):
    spec = _spec(tmp_path, "x")
    with pytest.raises(NbtrainError, match=r"fit\(ray=\.\.\.\): unknown Ray setting 'num_gpus' \(known: num_workers, "
                                           r"use_gpu, max_failures, storage_path, resources_per_worker\)"):
        ray_options({"num_gpus": 1}, spec)
    assert ray_options({"num_workers": 2, "use_gpu": False}, spec)["use_gpu"] is False
    with pytest.raises(NbtrainError, match=r"max_failures must be a whole number >= 0 \(or -1: no limit\), got 1\.5"):
        ray_options({"max_failures": 1.5}, spec)
    opts = ray_options(None, spec)
    assert opts["max_failures"] == 1 and opts["storage_path"] == str(tmp_path / "ck" / ".ray")


def test_without_ray_installed_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)          # import ray -> ImportError
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(_spec(tmp_path, "x"), processes=2, engine="ray")
    assert str(e.value).startswith("fit(engine='ray'): engine='ray' needs Ray Train, which cannot be imported here")
    assert str(e.value).endswith(f"(install it: {INSTALL})") and INSTALL == 'pip install "nbtrain[ray]"'


def test_without_ray_ci_fails_instead_of_skipping():
    """CI installs the ray extra and sets NBTRAIN_REQUIRE_RAY=1 (.ci/run): there a missing Ray fails, never skips."""
    code = ("import sys; sys.modules['ray'] = None; import pytest; "
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_ray.py', '-k', 'torchruns']))")
    env = {**os.environ, "NBTRAIN_REQUIRE_RAY": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout[-3000:]
    assert "NBTRAIN_REQUIRE_RAY=1 and Ray cannot be used: fit(engine='ray')" in out.stdout, out.stdout[-3000:]


def test_the_command_line_takes_processes_and_engine(tmp_path, capsys):
    from nbtrain.cli import main
    path = tmp_path / "spec.json"
    _spec(tmp_path, "x").save(path)
    assert main(["run", str(path), "--engine", "ray"]) == 2
    assert capsys.readouterr().err == (f"nbtrain: error: nbtrain run: --engine ray needs --processes N (how many "
                                       f"workers to start) (e.g. nbtrain run {path} --processes 2 --engine ray)\n")
    assert main(["run", str(path), "--processes", "2", "--engine", "dask"]) == 2
    assert "nbtrain: error: fit(engine=...): unknown engine 'dask'" in capsys.readouterr().err


def test_a_failed_worker_is_one_error_with_its_rank_and_what_it_said():
    """What Ray raises after the last restart (WorkerGroupError: rank -> the worker's exception) becomes one
    WorkerError, as with torchrun (no Ray runtime needed: the job's error is set as Ray would set it)."""
    from nbtrain.errors import CheckpointError
    from nbtrain.train.launch import WorkerError
    from nbtrain.train.rayrun import RayJob

    class WorkerGroupError(RuntimeError):
        def __init__(self, failures):
            super().__init__("Training failed due to worker errors")
            self.worker_failures = failures
    job = object.__new__(RayJob)
    job.n, job.error = 2, WorkerGroupError({1: CheckpointError("/x/nope.pt: no such file", "", "")})
    err = job.failure()
    assert isinstance(err, WorkerError) and str(err) == \
        "worker rank 1 of fit(processes=2, engine='ray') failed: CheckpointError: /x/nope.pt: no such file"
    job.error = None
    assert job.failure() is None


def test_a_local_ray_is_started_lean_and_again_when_its_start_timed_out(monkeypatch):
    """start_ray (no Ray needed: a stand-in module): LOCAL_RAY's settings; Ray's "timed out during startup" (a busy
    machine) is tried again after the processes the failed try left are ended; a cluster found (ValueError for the
    settings) is joined with Ray's own; any other error is raised at once."""
    from nbtrain.train import rayrun
    left = []

    class FakeRay:
        def __init__(self, errors):
            self.errors, self.calls, self.shutdowns = list(errors), [], 0

        def init(self, **kw):
            self.calls.append(kw)
            if self.errors:
                left.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
                raise self.errors.pop(0)

        def shutdown(self):
            self.shutdowns += 1

    for k in rayrun.LOCAL_TRAIN_ENV:
        monkeypatch.delenv(k, raising=False)
    ray = FakeRay([Exception("The current node timed out during startup. This could happen ...")])
    rayrun.start_ray(ray)
    assert ray.calls == [rayrun.LOCAL_RAY] * 2 and ray.shutdowns == 1
    assert rayrun.LOCAL_RAY == {"include_dashboard": False, "object_store_memory": 256 << 20, "log_to_driver": False}
    assert left[0].wait(timeout=10) == -signal.SIGKILL                   # what the failed try left: ended
    assert {k: os.environ[k] for k in rayrun.LOCAL_TRAIN_ENV} == {"RAY_TRAIN_METRICS_ENABLED": "0",
                                                                 "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
    ray = FakeRay([])
    rayrun.start_ray(ray, num_cpus=2)                                  # settings of the caller's, with LOCAL_RAY's
    assert ray.calls == [{**rayrun.LOCAL_RAY, "num_cpus": 2}]
    ray = FakeRay([ValueError("When connecting to an existing cluster, object_store_memory must not be provided.")])
    rayrun.start_ray(ray)
    assert ray.calls == [rayrun.LOCAL_RAY, {}]
    ray = FakeRay([RuntimeError("no space left on /dev/shm")] * 3)
    with pytest.raises(RuntimeError, match="no space left"):
        rayrun.start_ray(ray)
    assert len(ray.calls) == 1
    for p in left:
        p.kill()
