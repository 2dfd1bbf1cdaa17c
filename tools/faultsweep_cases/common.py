"""What every fault case uses: fresh processes with a timeout, the specs, the uninterrupted reference runs, and the
checks that classify an outcome (a clear error, or a run that ended and resumes to the reference's numbers)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("child.py")
PY = sys.executable
TIMEOUT = float(os.environ.get("FAULTSWEEP_TIMEOUT", "150"))     # one process; past it the case is a hang


class Fail(Exception):
    """The case's outcome breaks what issue 24 requires; the message is the evidence."""


@dataclass
class Proc:
    cmd: list
    popen: subprocess.Popen
    log: Path

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
            raise Fail(f"HANG: no exit after {timeout:.0f} s: {show(self.cmd)}\n{tail(self.out())}") from None

    def out(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)


def show(cmd) -> str:
    return " ".join(str(c) if " " not in str(c) and str(c) else repr(str(c)) for c in cmd)


def tail(text: str, n: int = 700) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def env(**extra) -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    e.pop("NBTRAIN_TRACEBACK", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def start(cmd, cwd: Path, name: str, **extra) -> Proc:
    """A fresh process (its own process group, so a hang's whole tree can be killed), stdout+stderr to a log."""
    cwd.mkdir(parents=True, exist_ok=True)
    log = cwd / f"{name}.log"
    cmd = [str(c) for c in cmd]
    with open(log, "w") as fh:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env(**extra),
                             start_new_session=True, stdin=subprocess.DEVNULL)
    return Proc(cmd, p, log)


def run(cmd, cwd: Path, name: str, timeout: float = TIMEOUT, **extra) -> tuple[int, str]:
    p = start(cmd, cwd, name, **extra)
    return p.wait(timeout), p.out()


def cli(*args) -> list:
    return [PY, CHILD, "run", *args]


@dataclass
class Ctx:
    """One case's own folder, and the sweep's shared reference runs."""
    dir: Path
    refs: "Refs"
    notes: list = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


class Refs:
    """The uninterrupted run of each spec variant, run once per sweep (a lock per variant for --jobs)."""

    def __init__(self, root: Path):
        self.root, self.locks, self.cache = root, {}, {}
        self.guard = threading.Lock()

    def spec(self, variant: str) -> Path:
        from faultsweep_cases.specs import write_spec
        path = self.root / "specs" / f"{variant}.json"
        with self.guard:
            if not path.exists():
                write_spec(variant, path)
        return path

    def get(self, variant: str) -> dict:
        with self.guard:
            lock = self.locks.setdefault(variant, threading.Lock())
        with lock:
            if variant not in self.cache:
                self.cache[variant] = self._run(variant)
        if isinstance(self.cache[variant], Fail):
            raise Fail(f"the reference run failed: {self.cache[variant]}")
        return self.cache[variant]

    def _run(self, variant: str):
        import nbtrain
        folder = self.root / "refs" / variant
        try:
            rc, out = run(cli(self.spec(variant), "--checkpoint-dir", folder, "--logdir", folder, "--run-name",
                              "ref"), folder, "ref")
            if rc != 0:
                raise Fail(f"reference run exited {rc}\n{tail(out)}")
            return nbtrain.load_checkpoint(folder / "ref" / "last.pt")
        except Fail as e:
            return e


def check_no_traceback(out: str, what: str) -> None:
    if "Traceback (most recent call last)" in out:
        raise Fail(f"TRACEBACK from {what}:\n{tail(out, 1200)}")


def record(run_dir: Path) -> dict:
    path = run_dir / "nbtrain-run.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def load_all(run_dir: Path) -> dict:
    """Every checkpoint in the run's folder, read with nbtrain's own reader: a file that does not load is data loss."""
    import nbtrain
    out = {}
    for p in sorted(run_dir.glob("*.pt")) if run_dir.is_dir() else []:
        try:
            out[p.name] = nbtrain.load_checkpoint(p)
        except Exception as e:  # noqa: BLE001 - the evidence
            raise Fail(f"DATA LOSS: {p} does not load: {type(e).__name__}: {e}") from None
    return out


def equal_to_ref(ck: dict, ref: dict, what: str) -> None:
    """The same numbers as the uninterrupted run: torch.equal on every weight, the same epoch logs and final."""
    import torch
    a, b = ck["model"], ref["model"]
    diff = [k for k in b if k not in a or not torch.equal(a[k], b[k])]
    if diff or a.keys() != b.keys():
        raise Fail(f"SILENT WRONG: {what}: weights differ from the uninterrupted run's ({diff[:4]})")
    ha, hb = ck["history"], ref["history"]
    if ha["epochs"] != hb["epochs"] or ha.get("final") != hb.get("final"):
        raise Fail(f"SILENT WRONG: {what}: epoch logs differ from the uninterrupted run's:\n"
                   f"got {tail(str(ha['epochs']), 400)}\nwant {tail(str(hb['epochs']), 400)}")


def wait_for(path: Path, proc: Proc, timeout: float = TIMEOUT) -> None:
    t = time.monotonic()
    while not (path.exists() and path.stat().st_size > 0):     # the child writes it in one write: whole once seen
        if proc.popen.poll() is not None:
            raise Fail(f"the run ended (exit {proc.popen.returncode}) before the phase was reached: "
                       f"{show(proc.cmd)}\n{tail(proc.out())}")
        if time.monotonic() - t > timeout:
            proc.wait(0.01)
        time.sleep(0.02)


def says_fix(msg: str) -> bool:
    """A message that says how to fix it: a fix in parentheses, or the values it must take."""
    return len(msg) >= 30 and ("(" in msg or any(w in msg for w in ("must be", "expected", "should be")))


def clear_error(rc: int, out: str, what: str, says: tuple = ()) -> str:
    """Outcome (a): exit 2 and one `nbtrain: error:` line (what, where, fix), no traceback."""
    check_no_traceback(out, what)
    lines = [ln for ln in out.splitlines() if ln.startswith("nbtrain: error:")]
    if rc != 2 or len(lines) != 1:
        raise Fail(f"NOT ONE CLEAR ERROR: {what} exited {rc} with {len(lines)} error line(s):\n{tail(out)}")
    line = lines[0]
    if not says_fix(line):
        raise Fail(f"UNCLEAR ERROR (no where/fix): {line}")
    missing = [s for s in says if s.lower() not in line.lower()]
    if missing:
        raise Fail(f"ERROR DOES NOT SAY {missing}: {line}")
    return "clear error: " + line[len("nbtrain: error: "):][:160]


PREAMBLE = '''import json, sys, warnings
import torch
from torch import nn
import nbtrain
from nbtrain.errors import NbtrainError
torch.manual_seed(0)


def xy(n=64, seed=0, d=4, k=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.arange(n) % k


'''
EPILOGUE = '''
try:
    with warnings.catch_warnings(record=True) as W:
        warnings.simplefilter("always")
        r = main()
    print("CASE-RESULT " + json.dumps({"result": r, "warnings": [str(w.message) for w in W]}, default=str))
except NbtrainError as e:
    print("CASE-ERROR " + json.dumps({"type": type(e).__name__, "msg": str(e)}))
'''


def script(ctx, body: str, name: str = "case", timeout: float = TIMEOUT) -> tuple[int, str, dict]:
    """A small user script (body defines main()) in a fresh process: its exit, its output, and how it ended."""
    path = ctx.dir / f"{name}.py"
    path.write_text(PREAMBLE + body + EPILOGUE)
    rc, out = run([PY, path], ctx.dir, name, timeout)
    for line in out.splitlines():
        for tag in ("CASE-RESULT ", "CASE-ERROR "):
            if line.startswith(tag):
                return rc, out, {"kind": tag.strip(), **json.loads(line[len(tag):])}
    return rc, out, {"kind": "none"}


def script_error(ctx, body: str, says: tuple = (), name: str = "case") -> str:
    """Outcome (a) from a script: one NbtrainError that says what the case expects, no other traceback."""
    rc, out, got = script(ctx, body, name)
    check_no_traceback(out, "the script")
    if got["kind"] != "CASE-ERROR":
        raise Fail(f"NO CLEAR ERROR: the script ended {got.get('kind')} (exit {rc}): "
                   f"{tail(json.dumps(got.get('result')), 300)}\nwarnings: {tail(str(got.get('warnings')), 400)}"
                   f"\n{tail(out, 400)}")
    msg = got["msg"]
    missing = [s for s in says if s.lower() not in msg.lower()]
    if missing or not says_fix(msg):
        raise Fail(f"UNCLEAR ERROR (wants {missing or 'a fix in parentheses'}): {got['type']}: {msg}")
    return f"clear error: {got['type']}: {msg[:160]}"


def script_warns(ctx, body: str, says: tuple, name: str = "case") -> str:
    """A run that goes on but must say what is wrong: a warning (or a note) with the words the case expects."""
    rc, out, got = script(ctx, body, name)
    check_no_traceback(out, "the script")
    if got["kind"] == "CASE-ERROR":
        msg = got["msg"]
        if all(s.lower() in msg.lower() for s in says):
            return f"clear error: {got['type']}: {msg[:160]}"
        raise Fail(f"ERROR DOES NOT SAY {says}: {got['type']}: {msg}")
    if got["kind"] != "CASE-RESULT":
        raise Fail(f"the script ended without a result (exit {rc}):\n{tail(out)}")
    said = [w for w in got["warnings"] if all(s.lower() in w.lower() for s in says)]
    if not said:
        raise Fail(f"SILENT: nothing says {says}; result {tail(json.dumps(got['result']), 300)}; warnings "
                   f"{tail(str(got['warnings']), 500)}")
    return f"said: {said[0][:160]}"
