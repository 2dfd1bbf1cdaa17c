"""A fork server for the phase-holding child (child.py), for tests that start many runs: the server imports torch,
nbtrain and child.py's hooks once (and runs nothing, so no thread pool is copied); each run is a fork of it that
sets its own environment (PHASE, AT, READY, SENT, DONE, ...), its own session and log, and runs child.py's main() as
`python child.py ARGV` would, ending as that process ends (sys.exit: atexit handlers and threads are waited for).
A run's exit status is the process's own (negative: killed by that signal). The sweep (tools/faultsweep.py) keeps
fresh processes: some of its cases are about start-up.

Protocol, JSON lines: the client writes {"id", "argv", "log", "env"}; the server answers {"id", "pid"} at once and
{"pid", "rc"} when that run ends. Several runs may be live at once.

    forks = Forks(env)          # env: the server's environment (PYTHONPATH, OMP_NUM_THREADS)
    run = forks.start(["run", spec, ...], log, PHASE="step", AT=7, READY=..., SENT=...)
    run.send_signal(signal.SIGINT); run.wait(120); forks.close()
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading


def _say(**msg) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def _as_child(req: dict) -> int:
    """In the fork: a session of its own, stdout and stderr to the log, the run's environment, then the run."""
    import child
    os.setsid()
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.update(req["env"])
    child.configure(os.environ)
    return child.main(req["argv"])


# what a run imports (sys.modules before and after one run): imported once, in the server (1.8 -> 0.6 s CPU a run).
# They start no thread but a jemalloc_bg_thd (with sklearn's imports): jemalloc's own atfork handlers make it fork-safe
PRELOAD = ("nbtrain.train.loop", "nbtrain.sinks.progress", "sklearn.datasets", "tensorboardX", "tqdm.auto", "PIL.Image",
           "psutil")


def serve() -> int:
    """Fork a run per request line; report each run's pid at once and its exit status when it ends."""
    import child  # noqa: F401 - torch, nbtrain and the hooks, once
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    buf, live = b"", set()
    while True:
        if select.select([0], [], [], 0.02 if live else None)[0]:
            chunk = os.read(0, 1 << 16)
            if not chunk:               # the client closed: its runs have ended or were killed
                for pid in live:
                    os.waitpid(pid, 0)
                os._exit(0)             # nothing to flush: no interpreter teardown of torch (seconds on a busy machine)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    return _as_child(req)
                live.add(pid)
                _say(id=req["id"], pid=pid)
        for pid in list(live):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                live.discard(pid)
                _say(pid=pid, rc=os.waitstatus_to_exitcode(status))


class Fork:
    """One run, with the part of Popen's interface the tests use."""

    def __init__(self, server: "Forks", pid: int, log):
        self.server, self.pid, self.log = server, pid, log

    def poll(self) -> int | None:
        return self.server.rcs.get(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        with self.server.cond:
            if not self.server.cond.wait_for(lambda: self.pid in self.server.rcs or self.server.gone, timeout):
                raise subprocess.TimeoutExpired(f"fork {self.pid}", timeout)
        if self.pid not in self.server.rcs:
            raise RuntimeError(f"the fork server ended before run {self.pid} did")
        return self.server.rcs[self.pid]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)      # this run only: a process this server forked, never a group


class Forks:
    """The client: starts the server (a child of this process) and its runs."""

    def __init__(self, env: dict):
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True)
        self.cond, self.pids, self.rcs, self.gone, self.n = threading.Condition(), {}, {}, False, 0
        self.forked: list = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self.cond:
                if "rc" in msg:
                    self.rcs[msg["pid"]] = msg["rc"]
                else:
                    self.pids[msg["id"]] = msg["pid"]
                self.cond.notify_all()
        with self.cond:
            self.gone = True
            self.cond.notify_all()

    def start(self, argv: list, log, **env) -> Fork:
        with self.cond:
            self.n += 1
            k = self.n
            req = {"id": k, "argv": [str(a) for a in argv], "log": str(log), "env": {e: str(v) for e, v in env.items()}}
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            if not self.cond.wait_for(lambda: k in self.pids or self.gone, 120) or k not in self.pids:
                raise RuntimeError(f"the fork server did not start {argv}")
            self.forked.append(self.pids.pop(k))
            return Fork(self, self.forked[-1], log)

    def close(self) -> None:
        """Kill what still runs (the runs this server forked, each by its pid), then end the server."""
        with self.cond:
            live = [p for p in self.forked if p not in self.rcs]
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.stdin.close()
        self.proc.wait(60)


if __name__ == "__main__":
    sys.exit(serve())
