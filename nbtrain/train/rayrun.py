"""``fit(spec, ray=dict(num_workers=N))``: N workers of Ray Train, watched live from the notebook (the driver).

The notebook stays Ray's driver and never trains (no CUDA there): it joins the Ray cluster (``ray.init()``, a local
one when none was started), creates a ``Channel`` actor (nbtrain.train.raychannel) and runs Ray Train's TorchTrainer
with nbtrain's loop on every worker (nbtrain.train.rayworker) in a thread of its own, while the cell's thread plays
rank 0's events from the Channel into a ``Mirror``: the same Dashboard, Stop / Pause / LR slider (through a
``RemoteControl`` that writes into the Channel) and History a single-process run has, as with ``processes=N`` on
torchrun (nbtrain.train.launch). A lost worker: Ray restarts the group (``FailureConfig(max_failures)``, 1 unless
``ray=dict(max_failures=...)`` says otherwise) and every rank resumes from the last checkpoint nbtrain reported.

``ray=dict(...)`` takes Ray's own settings: ``num_workers`` (``processes=N, engine="ray"`` says the same),
``use_gpu`` (default: from ``loop.device``; "auto" uses GPUs when the cluster has them), ``max_failures``,
``storage_path`` (where Ray keeps the reported checkpoints: a folder every node reaches, or a cloud URI, on a cluster;
default ``<checkpoint_dir>/.ray``), ``resources_per_worker``.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import threading
import time
from pathlib import Path

from ..errors import NbtrainError
from ..sinks.defaults import display_sinks
from .history import History
from .launch import GIVEN, WorkerError, _check_given, _pass_on, follow_to_end, wire, worker_spec
from .mirror import Mirror
from .raychannel import Channel

ENGINES = ("torchrun", "ray")
RAY_KEYS = ("num_workers", "use_gpu", "max_failures", "storage_path", "resources_per_worker")
WORKER = "nbtrain.train.rayworker"       # the workers' entry: nothing of nbtrain imports it (it imports fit)
INSTALL = 'pip install "nbtrain[ray]"'


def wants_ray(engine, processes, ray) -> bool:
    """Whether fit's ``engine`` / ``processes`` / ``ray`` arguments ask for Ray: ``ray=dict(num_workers=N, ...)`` or
    ``processes=N, engine="ray"``; one clear error for a value that is not known or arguments that disagree."""
    if engine not in (None, *ENGINES):
        raise NbtrainError(f"unknown engine {engine!r}", "fit(engine=...)",
                           "use 'torchrun' (processes on this machine, the default) or 'ray' (Ray Train workers on "
                           f"this machine or a Ray cluster: {INSTALL})")
    if ray is None:
        if engine == "ray" and processes is None:
            raise NbtrainError("engine='ray' needs the number of workers", "fit(engine='ray')",
                               "give it as ray=dict(num_workers=2) (or processes=2)")
        return engine == "ray"
    if not isinstance(ray, dict):
        raise NbtrainError(f"ray= takes a dict of Ray settings, got {type(ray).__name__}", "fit(ray=...)",
                           "e.g. ray=dict(num_workers=2, use_gpu=False)")
    if engine == "torchrun":
        raise NbtrainError("ray= runs the workers on Ray Train, engine='torchrun' on torchrun",
                           "fit(ray=..., engine=...)",
                           "leave engine out with ray= (or use processes=N without ray= for torchrun)")
    n = ray.get("num_workers")
    if n is None and processes is None:
        raise NbtrainError("ray= needs num_workers", "fit(ray=...)", "give how many Ray Train workers to start, e.g. "
                           "ray=dict(num_workers=2)")
    if n is not None and processes is not None and n != processes:
        raise NbtrainError(f"ray=dict(num_workers={n!r}) and processes={processes!r} disagree",
                           "fit(ray=..., processes=...)",
                           "give the number once: ray=dict(num_workers=N) (processes=N is the same for torchrun)")
    return True


def workers(processes, ray) -> int:
    """How many Ray Train workers: ``processes`` or ``ray=dict(num_workers=N)`` (wants_ray checked they agree)."""
    n = (ray or {}).get("num_workers", processes)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        where = "fit(processes=...)" if processes is not None else "fit(ray=...)"
        raise NbtrainError(f"the number of Ray Train workers must be a whole number >= 1, got {n!r}", where,
                           "e.g. ray=dict(num_workers=2) (one per GPU on a GPU cluster)")
    return n


def require_ray():
    """The ``ray`` module with Ray Train for torch, or one clear error saying what to install."""
    try:
        import ray  # optional and heavy (nbtrain[ray]): imported when asked for
        import ray.train.torch  # noqa: F401 - the same: Ray Train's torch backend
    except ImportError as e:
        raise NbtrainError(f"engine='ray' needs Ray Train, which cannot be imported here ({e})", "fit(engine='ray')",
                           f"install it: {INSTALL}") from None
    return ray


def ray_options(given, spec) -> dict:
    """``ray=dict(...)`` checked, with the defaults filled in."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(RAY_KEYS))
    if unknown:
        raise NbtrainError(f"unknown Ray setting {unknown[0]!r}", "fit(ray=...)", "known: " + ", ".join(RAY_KEYS))
    mf = given.get("max_failures", 1)
    if isinstance(mf, bool) or not isinstance(mf, int) or mf < -1:
        raise NbtrainError(f"max_failures must be a whole number >= 0 (or -1: no limit), got {mf!r}",
                           "fit(ray=...)", "e.g. ray=dict(max_failures=1): one restart of the workers after a loss")
    ck = spec.loop.checkpoint_dir
    storage = given.get("storage_path") or (Path(ck) / ".ray" if ck else Path.home() / "ray_results")
    return {"use_gpu": given.get("use_gpu"), "max_failures": mf, "storage_path": str(storage),
            "resources_per_worker": given.get("resources_per_worker")}


def absolute(spec):
    """The spec with its folders made absolute: Ray's workers run in folders of Ray's own."""
    d, ls = spec.data, spec.loop
    for obj, name in ((d, "root"), (d, "path"), (ls, "logdir"), (ls, "checkpoint_dir")):
        if getattr(obj, name):
            setattr(obj, name, str(Path(getattr(obj, name)).expanduser().absolute()))
    if not ls.run_name:            # one name for every try: a restarted group writes into the same folders
        ls.run_name = time.strftime("%Y%m%d-%H%M%S")
    return spec


# A Ray that fit() starts on this machine: what a notebook run uses of it, no more (each of these costs seconds of a
# small machine's CPU before the first step): no dashboard (its head process and agent's HTTP side), an object store
# of 256 MiB (the workers build their own data; only event lines, controls and the History cross), no worker output
# copied into the cell (rank 0's run shows in the display; an error comes back with its worker's message), and
# Ray Train without its metrics export (for the dashboard) and preemption watcher (spot nodes of a cluster).
LOCAL_RAY = {"include_dashboard": False, "object_store_memory": 256 << 20, "log_to_driver": False}
LOCAL_TRAIN_ENV = {"RAY_TRAIN_METRICS_ENABLED": "0", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


def start_ray(ray, tries: int = 3, **settings) -> None:
    """``ray.init()``: a new local Ray with LOCAL_RAY's settings (and ``settings``, e.g. ``num_cpus=2``), or the
    cluster RAY_ADDRESS (or ``ray start`` on this machine) names, as Ray itself would choose, with Ray's defaults
    there. Call ``ray.init(...)`` yourself before fit() for other settings: fit() joins the Ray it finds and leaves it
    running.

    Up to ``tries`` times: Ray 2.5x-2.60's raylet gives up when its agent has not started within 15 s (a fixed wait),
    which a busy small machine misses now and then ("The current node timed out during startup"); what a failed try
    started is ended (on Linux) before the next."""
    for k, v in LOCAL_TRAIN_ENV.items():
        os.environ.setdefault(k, v)           # read by Ray Train in this process and passed to its controller
    for k in range(tries):
        before = _descendants()
        try:
            return ray.init(**LOCAL_RAY, **settings)
        except ValueError:                  # "When connecting to an existing cluster, ... must not be provided"
            return ray.init()
        except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception for this
            if "timed out during startup" not in str(e) or k == tries - 1:
                raise
            ray.shutdown()                  # which leaves the half-started node's processes (GCS, monitors)
            for pid in _descendants() - before:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def _descendants() -> set[int]:
    """The PIDs of this process's children and theirs (Linux's /proc; elsewhere none are known)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, todo = set(), [os.getpid()]
    while todo:
        of = todo.pop()
        kids = [pid for pid, pp in parent.items() if pp == of and pid not in found]
        found.update(kids)
        todo.extend(kids)
    return found


class RayJob:
    """The TorchTrainer's run, in a thread of the driver, and the Channel its rank 0 talks through."""

    def __init__(self, ray, spec, n: int, resume, opts: dict):
        from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig  # optional (nbtrain[ray])
        from ray.train.torch import TorchTrainer  # optional (nbtrain[ray])
        self.ray, self.n, self.error = ray, n, None
        self.restarts: list[str] = []                 # what the driver saw of Ray's restarts, in words
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            start_ray(ray)
        self.channel = ray.remote(num_cpus=0)(Channel).remote()
        self.control: dict = {"stop": False, "pause": False, "lr_scale": 1.0}
        use_gpu = opts["use_gpu"]
        if use_gpu is None:
            dev = spec.loop.device
            use_gpu = dev.startswith("cuda") or (dev == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
        name = f"{spec.loop.run_name}-{time.strftime('%Y%m%d-%H%M%S')}"   # Ray's own run: this call's, never restored
        worker = importlib.import_module(WORKER).train_loop   # by name, as launch names nbtrain.train.worker
        self.trainer = TorchTrainer(
            worker, train_loop_config={"spec": spec.to_dict(), "resume": resume, "channel": self.channel},
            scaling_config=ScalingConfig(num_workers=n, use_gpu=bool(use_gpu),
                                         resources_per_worker=opts["resources_per_worker"]),
            run_config=RunConfig(name=name, storage_path=opts["storage_path"],
                                 failure_config=FailureConfig(max_failures=opts["max_failures"]),
                                 checkpoint_config=CheckpointConfig(num_to_keep=2)))
        self.thread = threading.Thread(target=self._fit, name="nbtrain-ray-driver", daemon=True)
        self.thread.start()

    def _fit(self) -> None:
        try:
            self.trainer.fit()
        except BaseException as e:  # noqa: BLE001 - raised in the cell's thread, as a WorkerError
            self.error = e

    def ask(self, **control) -> None:
        self.control.update(control)
        self.channel.ask.remote(dict(self.control))

    def events(self) -> list[dict]:
        if not self.ray.is_initialized():           # shut down by close(): what it held is gone
            return []
        text = "".join(self.ray.get(self.channel.take.remote()))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def done(self) -> bool:
        return not self.thread.is_alive()

    def history(self) -> History | None:
        d = self.ray.get(self.channel.result.remote()) if self.ray.is_initialized() else None
        if d is None:
            return None
        h = History.from_dict(d)
        h.run_name, h.interrupted = d.get("run_name", ""), bool(d.get("interrupted"))
        return h

    def failure(self) -> WorkerError | None:
        e = self.error
        if e is None:
            return None
        failures = getattr(e, "worker_failures", None) or {}
        where = f"of fit(processes={self.n}, engine='ray')"
        if not failures:
            return WorkerError(f"Ray Train {where} failed: {type(e).__name__}: {str(e).strip()[-2000:]}")
        rank = min(failures)
        cause = getattr(failures[rank], "cause", None) or failures[rank]     # a RayTaskError carries the worker's own
        lines = [ln for ln in str(failures[rank]).splitlines() if ln.strip()]
        said = str(cause).strip().splitlines()
        more = "\n--- Ray's report:\n" + "\n".join(lines[-15:]) if len(lines) > 1 else ""
        return WorkerError(f"worker rank {rank} {where} failed: {type(cause).__name__}: {said[0] if said else ''}"
                           + more)

    def close(self, grace: float) -> None:
        """The thread ends with Ray's run; a run that did not stop within ``grace`` after a Stop: Ray is shut down
        when this call started it (a cluster the user joined is left alone, with a note)."""
        self.thread.join(grace)
        if self.thread.is_alive() and self.started_ray:
            self.ray.shutdown()
            self.thread.join(grace)

    def release(self) -> None:
        if self.ray.is_initialized():
            self.ray.kill(self.channel)


def _play(mirror: Mirror, ev: dict, restarts: list) -> None:
    """One event; a second "start" is rank 0 after Ray restarted the workers: the record forgets what the lost try
    logged after the checkpoint it resumes from (those steps are trained and logged again) and notes the restart."""
    if ev["e"] == "start" and mirror.started:
        h = mirror.state.history
        h.drop_steps_after(ev["step"])
        h.epochs = h.epochs[:ev["epoch"]]
        restarts.append(f"Ray restarted the workers after losing one; they went on from the checkpoint of epoch "
                        f"{ev['epoch']} (step {ev['step']})" if ev["step"] else
                        "Ray restarted the workers after losing one; no checkpoint was reported yet: they started over")
        h.note(restarts[-1])
        return
    mirror.play(ev)


def _follow(job: RayJob, mirror: Mirror, poll: float, run=None, until: float | None = None) -> None:
    while True:
        for ev in job.events():
            _play(mirror, ev, job.restarts)
        if job.done() or (until is not None and time.monotonic() > until):
            return
        if run is not None:
            _pass_on(run, mirror.control)
        mirror.tick()
        time.sleep(poll)


def fit_ray(spec=None, *, processes=None, ray=None, dashboard="auto", progress=True, resume=None, epochs=None,
            loop=None, grace=30.0, poll=0.1, **given) -> History:
    """``fit(spec, ray=dict(num_workers=N), ...)``: train ``spec`` on N Ray Train workers, play rank 0's run to the
    display sinks fit would show, return rank 0's History (as nbtrain.train.launch.fit_processes does)."""
    n = workers(processes, ray)
    given = {k: v for k, v in given.items() if k in GIVEN}
    _check_given(given)
    spec = absolute(worker_spec(spec, epochs, loop or {}))
    opts = ray_options(ray, spec)
    module = require_ray()
    displays = display_sinks(dashboard, progress)
    if resume is not None and resume != "auto":      # a path: as the driver sees it (the workers run elsewhere)
        resume = str(Path(resume).expanduser().absolute())
    job = RayJob(module, spec, n, resume, opts)
    control, mirror, run = wire(spec, displays, job.ask, given)
    try:
        error = follow_to_end(job, _follow, control, mirror, poll, run, grace,
                              lambda ev: _play(mirror, ev, job.restarts))
    finally:
        h = job.history()
        job.release()
    if h is not None:
        h.notes.extend(job.restarts)        # rank 0's record does not know it was restarted
    if error is not None:
        raise error
    return h
