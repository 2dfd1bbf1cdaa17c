"""``fit(spec, processes=N)``: N workers started with torchrun from a notebook cell, watched live in the cell.

The kernel neither forks nor touches CUDA: it writes the spec into a fresh folder, starts PyTorch's own launcher
(``python -m torch.distributed.run --standalone --nproc_per_node N``) as a subprocess in a session of its own, and
then tails rank 0's events (nbtrain.train.relay) into a ``Mirror`` that plays them to the same Dashboard a single-process
run has. Stop, Pause and the LR slider write ``control.json``; every rank follows at its next log point. When the
workers end, the cell returns rank 0's History (``history.json``), as fit() does.

The call returns as soon as rank 0 wrote the History and every worker has exited (torchrun's agent, which spends
seconds tearing itself down after that, is then ended). No worker outlives the cell: on the cell's end, an error or an
interrupt (the kernel's stop button asks the workers to stop and save, then ends them if they do not within ``grace``
seconds) the agent is sent SIGTERM (torchrun stops its workers), then anything left of the agent's session and the
workers (by PID) is killed; a kernel that dies or restarts is watched by the agent and by every worker
(nbtrain.train.kernelwatch.watch_kernel).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..env import pid_alive
from ..errors import NbtrainError
from ..sinks.control import Control
from ..sinks.defaults import display_sinks
from ..spec.trainspec import LoopSpec, TrainSpec
from ..viz import new_figure
from .callbacks import Callback
from .history import History
from .kernelwatch import KERNEL_PID
from .mirror import Mirror, RemoteControl
from .relay import CONTROL, EVENTS, HISTORY, write_control

TAIL_LINES = 15          # lines of a failed worker's output shown in the error


class WorkerError(RuntimeError):
    """A worker of ``fit(processes=N)`` failed: its rank, what it said, and its last lines of output."""


def wire(spec, displays, ask, given: dict):
    """The caller's side of a run on workers: a RemoteControl writing what ``ask`` carries to the workers, the
    Dashboard's buttons on it, the Mirror that plays rank 0's events to ``displays``, and a background Run's Control
    (in ``given["callbacks"]``) reading the Mirror's state. Returns ``(control, mirror, run)``; torchrun's and Ray's
    launchers share it."""
    control = RemoteControl(ask)
    for s in displays:
        if hasattr(s, "external_control"):          # the Dashboard: its buttons reach the workers
            s.control, s.external_control = control, True
    mirror = Mirror(spec, displays, control)
    run = next((c for c in given.get("callbacks") or () if isinstance(c, Control)), None)
    if run is not None:
        run.state = mirror.state
    return control, mirror, run


def follow_to_end(source, follow, control, mirror, poll, run, grace: float, play):
    """Play ``source``'s events (torchrun's workers or Ray's job) to ``mirror`` with ``follow`` until the run ends;
    the kernel's stop button (KeyboardInterrupt) stops every rank as Stop does and follows them ``grace`` s more.
    Then the source is closed, its last events played (``play``), the view ended. Returns the run's error or None."""
    try:
        try:
            follow(source, mirror, poll, run)
        except KeyboardInterrupt:          # the kernel's stop button: every rank stops and saves, as Stop does
            control.stop()
            follow(source, mirror, poll, run, until=time.monotonic() + grace)
    finally:
        source.close(grace)
        for ev in source.events():
            play(ev)
        error = source.failure()
        mirror.end(f"failed: {str(error).splitlines()[0]}" if error is not None else "workers ended")
    return error


def check_processes(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NbtrainError(f"processes must be a whole number >= 1, got {n!r}", "fit(processes=...)",
                           "give how many worker processes to start, e.g. processes=2 (one per GPU on a GPU machine)")
    return n


def command(folder: Path, n: int) -> list[str]:
    """The agent's command line: torchrun (nbtrain.train.agent: torchrun watching the kernel) running the workers."""
    return [sys.executable, "-m", "nbtrain.train.agent", "--standalone", "--nproc_per_node", str(n),
            "--monitor-interval", "0.1", "-m", "nbtrain.train.worker", str(folder)]


def environment() -> dict:
    """The kernel's environment, with this nbtrain first on the path and the kernel's PID for the watchdogs."""
    here = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, KERNEL_PID: str(os.getpid()),
            "PYTHONPATH": here + (os.pathsep + path if path else "")}


class Workers:
    """The agent process and the folder it shares with the kernel."""

    def __init__(self, spec, n: int, resume=None):
        self.n = n
        self.folder = Path(tempfile.mkdtemp(prefix="nbtrain-workers-"))
        spec_path = self.folder / "spec.json"
        spec.save(spec_path)
        job = {"spec": str(spec_path), "resume": str(resume) if resume is not None else None}
        (self.folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
        self.log = open(self.folder / "agent.log", "wb")
        self.proc = subprocess.Popen(command(self.folder, n), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=environment(), start_new_session=True)
        self.control: dict = {"stop": False, "pause": False, "lr_scale": 1.0}
        self.finished = False
        self._pos = 0

    # -- the kernel's side of the two files ---------------------------------------------------------------
    def ask(self, **control) -> None:
        self.control.update(control)
        write_control(self.folder / CONTROL, self.control)

    def events(self) -> list[dict]:
        """The events rank 0 wrote since the last call (whole lines only)."""
        try:
            with open(self.folder / EVENTS, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._pos += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]

    def done(self) -> bool:
        """The run is over: rank 0 wrote the History and every worker has exited (torchrun's agent may still be
        tearing itself down, for seconds: nothing is left for it to do)."""
        pids = self.pids()
        return (self.folder / HISTORY).is_file() and len(pids) == self.n and not any(_running(p) for p in pids)

    def pids(self) -> list[int]:
        return [int(p.read_text()) for p in self.folder.glob("pid_*") if p.read_text().strip().isdigit()]

    # -- the end --------------------------------------------------------------------------------------
    def history(self) -> History | None:
        path = self.folder / HISTORY
        if not path.is_file():
            return None
        d = json.loads(path.read_text(encoding="utf-8"))
        h = History.from_dict(d)
        h.run_name, h.interrupted = d.get("run_name", ""), bool(d.get("interrupted"))
        return h

    def failure(self) -> WorkerError | None:
        """The failed rank (torchrun's root cause, else the first that wrote an error; of ranks that failed with the
        same error, the lowest), what it said, its last lines."""
        report = "\n".join(self.tail(self.folder / "agent.log", 400))
        rank, code = root_cause(report)
        errors = {json.loads(p.read_text(encoding="utf-8"))["rank"]: json.loads(p.read_text(encoding="utf-8"))["error"]
                  for p in self.folder.glob("error_*.json")}
        if rank is None and errors:
            rank = min(errors)
        if rank in errors:            # the ranks that failed alike (a bad resume path): the lowest, whichever ended first
            rank = min(r for r, said in errors.items() if said == errors[rank])
        if rank is None and (not self.proc.returncode or self.finished):
            return None
        what = errors.get(rank) or _exit_words(code if code is not None else self.proc.returncode)
        log = self.folder / f"rank_{rank}.log"
        lines = self.tail(log if log.is_file() else self.folder / "agent.log", TAIL_LINES)
        who = f"worker rank {rank}" if rank is not None else "the torchrun agent"
        return WorkerError(f"{who} of fit(processes={self.n}) failed: {what}\n--- its last lines of output:\n"
                           + "\n".join(lines))

    @staticmethod
    def tail(path: Path, n: int) -> list[str]:
        try:
            return path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
        except OSError:
            return []

    def close(self, grace: float = 10.0) -> None:
        """Leave nothing running: SIGTERM to the agent (torchrun ends its workers), then SIGKILL to what is left."""
        pids = self.pids()
        if self.proc.poll() is None and self.done():
            self.finished = True                 # ended by us: its exit status says nothing about the run
            _kill_group(self.proc.pid)
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid)
                self.proc.wait(5)
        for pid in pids:
            if _ours(pid, self.folder):    # still a worker of this run (a PID the system gave to another is spared)
                _kill(pid)
        self.log.close()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def root_cause(report: str):
    """(local rank, exit code) of the worker whose failure caused the others', read from torchrun's output.

    A worker killed by a signal is the cause (SIGTERM excepted: torchrun sends it to the survivors); its peers then
    fail on their own, with gloo's "Connection reset by peer", and torchrun's "Root Cause (first observed failure)"
    names whichever it noticed first, now and then a peer. Without such a kill: that Root Cause, else the last
    failure line."""
    fails = re.findall(r"(?:local_rank\s*:\s*(\d+)\)?\s*exitcode\s*:\s*(-?\d+))|"
                       r"(?:exitcode\s*:\s*(-?\d+)\)?\s*local_rank\s*:\s*(\d+))", report)
    pairs = [(int(a or d), int(b or c)) for a, b, c, d in fails]
    killed = [p for p in pairs if p[1] < 0 and p[1] != -signal.SIGTERM]
    if killed:
        return killed[0]
    text = report.split("Root Cause", 1)[1] if "Root Cause" in report else report
    ranks, codes = re.findall(r"local_rank\s*:\s*(\d+)", text), re.findall(r"exitcode\s*:\s*(-?\d+)", text)
    pick = 0 if "Root Cause" in report else -1
    return (int(ranks[pick]) if ranks else None), (int(codes[pick]) if codes else None)


def _exit_words(code) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _ours(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is a worker started for ``folder`` (its command line names the folder)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return str(folder).encode() in f.read()
    except OSError:
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(pids: list[int], timeout: float = 5.0) -> bool:
    """True once none of ``pids`` is running (zombies count as gone)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(_running(p) for p in pids):
            return True
        time.sleep(0.02)
    return not any(_running(p) for p in pids)


def _running(pid: int) -> bool:
    if not os.path.isdir("/proc"):         # no /proc (macOS): whether the PID is taken at all
        return pid_alive(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- fit(spec, processes=N) -------------------------------------------------------------------------
def worker_spec(spec, epochs, loop: dict):
    """The spec the workers train: a TrainSpec (or its JSON path) with fit's LoopSpec keywords applied."""
    if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__"):
        spec = TrainSpec.load(spec)
    if not isinstance(spec, TrainSpec):
        raise NbtrainError(f"processes= trains a TrainSpec, got {type(spec).__name__}", "fit(processes=...)",
                           "give a TrainSpec or the path of a JSON spec: each worker builds its data and model from it")
    d = spec.to_dict()
    known = {f for f in LoopSpec().to_dict()}
    for k, v in loop.items():
        if k not in known:
            raise NbtrainError(f"unknown argument {k!r}", "fit", "known: the LoopSpec fields " + ", ".join(sorted(known)))
        d["loop"][k] = v
    if epochs is not None:
        d["loop"]["epochs"] = epochs
    return TrainSpec.from_dict(d)


GIVEN = ("model", "data", "train", "val", "optimizer", "scheduler", "loss", "callbacks")   # fit's, in this order


def _check_given(given: dict) -> None:
    """What cannot cross into another process: parts built here, callbacks (a background Run's Control excepted)."""
    for k, v in given.items():
        if k == "callbacks":
            v = [c for c in ([v] if isinstance(v, Callback) else v or ()) if not isinstance(c, Control)]
        if v not in (None, (), [], False):
            raise NbtrainError(f"{k}= does not go with processes=", "fit(processes=...)",
                               "put what it sets into the spec: each worker builds the parts from it")


def fit_processes(spec=None, *, processes, dashboard="auto", progress=True, resume=None, epochs=None, loop=None,
                  grace=10.0, poll=0.05, **given) -> History:
    """``fit(spec, processes=N, ...)`` (fit's own arguments): train ``spec`` on N torchrun workers, play rank 0's run
    to the display sinks fit would show, return rank 0's History. Of the parts fit may be given (``given``), none
    can cross into a worker (each builds its own from the spec), but a background Run's Control among the callbacks
    drives the workers as the display's buttons do."""
    displays = display_sinks(dashboard, progress)
    given = {k: v for k, v in given.items() if k in GIVEN}
    n = check_processes(processes)
    _check_given(given)
    spec = worker_spec(spec, epochs, loop or {})
    workers = Workers(spec, n, resume)
    if any(getattr(d, "shows_notes", False) for d in displays):   # a live widget: its final picture needs matplotlib,
        new_figure()            # imported now, while the workers import torch, not after a Stop click (seconds)
    control, mirror, run = wire(spec, displays, workers.ask, given)
    try:
        error = follow_to_end(workers, _follow, control, mirror, poll, run, grace, mirror.play)
    finally:
        h = workers.history()
        workers.remove()
    if error is not None:
        raise error
    return h


def _follow(workers: Workers, mirror, poll: float, run=None, until: float | None = None) -> None:
    """Play the events as they come, until the agent ends (or ``until``, on the monotonic clock); pass a background
    Run's Stop / Pause on."""
    while True:
        for ev in workers.events():
            mirror.play(ev)
        if workers.proc.poll() is not None or workers.done():
            return
        if until is not None and time.monotonic() > until:
            return
        if run is not None:
            _pass_on(run, mirror.control)
        mirror.tick()
        time.sleep(poll)


def _pass_on(run: Control, remote) -> None:
    scale, run.pending_scale = run.pending_scale, None
    if scale is not None:
        remote.scale_lr(scale)
    if run.stop_requested and not remote.stop_requested:
        remote.stop()
    elif run.paused != remote.paused:
        remote.pause() if run.paused else remote.resume()
