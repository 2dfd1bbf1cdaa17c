"""Every run its own folder (Deliver 2): the same run_name from two processes at once, two resumes at once, one
folder for logs and checkpoints, a second run of a name that finished. A process may refuse with one clear error;
every run that trains must end in a folder of its own with the uninterrupted run's numbers."""
from __future__ import annotations

import signal
import time

from faultsweep_cases.common import (
    Fail,
    check_no_traceback,
    clear_error,
    cli,
    equal_to_ref,
    load_all,
    record,
    run,
    start,
    tail,
    wait_for,
)
from faultsweep_cases.signals import N


def _each_ended_well(procs, what: str) -> list:
    """Each process: exit 0, or one clear error; the exits of those that trained."""
    ok = []
    for i, p in enumerate(procs):
        rc = p.wait()
        out = p.out()
        check_no_traceback(out, f"{what}, process {i}")
        if rc == 0:
            ok.append(i)
        else:
            clear_error(rc, out, f"{what}, process {i}")
    return ok


def _run_folders(d) -> list:
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def same_name_at_once(ctx, tb: bool, trial: int) -> str:
    ref, spec, d = ctx.refs.get("plain"), ctx.refs.spec("plain"), ctx.dir / "D"
    logdir = str(d) if tb else ""
    procs = [start(cli(spec, "--checkpoint-dir", d, "--logdir", logdir, "--run-name", "same"), ctx.dir, f"p{i}")
             for i in range(2)]
    ok = _each_ended_well(procs, "two runs of one run_name at once")
    if not ok:
        raise Fail("NEITHER RAN: both processes refused")
    folders = [f for f in _run_folders(d) if (f / "last.pt").exists()]
    if len(folders) != len(ok):
        raise Fail(f"SHARED FOLDER / DATA LOSS: {len(ok)} run(s) trained, {len(folders)} folder(s) hold a last.pt: "
                   f"{[f.name for f in _run_folders(d)]}")
    for f in folders:
        equal_to_ref(load_all(f)["last.pt"], ref, f"the run in {f.name}")
        events = list(f.glob("events.out.tfevents*"))
        if len(events) > 1:
            raise Fail(f"SHARED EVENTS: {f} holds {len(events)} TensorBoard event files")
    return f"{len(ok)} trained, each in its own folder ({[f.name for f in folders]}), each = uninterrupted run"


def _interrupted_run(ctx, spec, d) -> None:
    ready, sent = ctx.dir / "ready", ctx.dir / "sent"
    p = start(cli(spec, "--checkpoint-dir", d, "--logdir", d, "--run-name", "cut"), ctx.dir, "cut", PHASE="step",
              AT=N + 5, READY=ready, SENT=sent)
    wait_for(ready, p)
    p.signal(signal.SIGINT)
    time.sleep(0.2)
    sent.touch()
    if p.wait() != 130:
        raise Fail(f"the run to interrupt ended {p.popen.returncode}:\n{tail(p.out())}")


def two_resumes_at_once(ctx, trial: int) -> str:
    ref, spec, d = ctx.refs.get("plain"), ctx.refs.spec("plain"), ctx.dir / "D"
    _interrupted_run(ctx, spec, d)
    procs = [start(cli(spec, "--checkpoint-dir", d, "--logdir", d, "--run-name", "cut", "--resume", "auto"),
                   ctx.dir, f"resume{i}") for i in range(2)]
    ok = _each_ended_well(procs, "two resumes at once")
    if not ok:
        raise Fail("NEITHER RESUMED: both processes refused")
    cks = load_all(d / "cut")
    equal_to_ref(cks["last.pt"], ref, "the run resumed twice at once")
    rec = record(d / "cut")
    if rec.get("status") != "finished":
        raise Fail(f"RECORD {rec.get('status')!r} after two resumes at once")
    events = list((d / "cut").glob("events.out.tfevents*"))
    return f"{len(ok)} of 2 resumed, the other refused clearly; last.pt = uninterrupted run ({len(events)} events)"


def one_folder_twice(ctx, run_name: str) -> str:
    """`--logdir D --checkpoint-dir D`, twice in a row (the regression of issue 24): each run its own folder."""
    ref, spec, d = ctx.refs.get("plain"), ctx.refs.spec("plain"), ctx.dir / "D"
    name = ["--run-name", run_name] if run_name else []
    for i in range(2):
        rc, out = run(cli(spec, "--logdir", d, "--checkpoint-dir", d, *name), ctx.dir, f"run{i}")
        check_no_traceback(out, f"run {i}")
        if rc != 0 and not (run_name and i == 1):
            raise Fail(f"REGRESSION: --logdir D --checkpoint-dir D, run {i}: exit {rc}\n{tail(out)}")
        if rc != 0:
            clear_error(rc, out, "a second run of a name that finished")
    folders = [f for f in _run_folders(d) if (f / "last.pt").exists()]
    for f in folders:
        equal_to_ref(load_all(f)["last.pt"], ref, f"the run in {f.name}")
    if not run_name and len(folders) != 2:
        raise Fail(f"SHARED FOLDER: two runs, {len(folders)} folder(s) with a last.pt: {[f.name for f in folders]}")
    return f"{len(folders)} folder(s), each = uninterrupted run"


def other_spec_same_name(ctx) -> str:
    """A second spec started under a name whose run finished (no resume): the first run's files are kept."""
    ref, d = ctx.refs.get("plain"), ctx.dir / "D"
    rc, out = run(cli(ctx.refs.spec("plain"), "--checkpoint-dir", d, "--logdir", d, "--run-name", "x"), ctx.dir, "a")
    if rc != 0:
        raise Fail(f"the first run failed: {tail(out)}")
    rc, out = run(cli(ctx.refs.spec("tanh"), "--checkpoint-dir", d, "--logdir", d, "--run-name", "x"), ctx.dir, "b")
    check_no_traceback(out, "the second spec")
    equal_to_ref(load_all(d / "x")["last.pt"], ref, "the first run's last.pt after a second spec used its name")
    if rc == 0:
        return f"the second spec ran elsewhere ({[f.name for f in _run_folders(d)]}); the first run's files kept"
    return clear_error(rc, out, "a second spec under a finished run's name")


BG = '''
def main():
    from faultsweep_specs import base
    runs = []
    for name in NAMES:
        spec = base()
        spec.loop.run_name, spec.loop.checkpoint_dir = name, "D"
        runs.append(nbtrain.fit(spec, background=True, dashboard=False, progress=False))
    hs = [r.wait() for r in runs]
    return {"status": [h.status for h in hs]}
'''


def background_fits(ctx, n: int) -> str:
    """n background fits in one process at once: each must end with the uninterrupted run's weights (n=1: the
    control, which shows the comparison itself holds)."""
    import shutil
    from pathlib import Path

    from faultsweep_cases.common import script
    ref = ctx.refs.get("plain")
    shutil.copy(Path(__file__).with_name("specs.py"), ctx.dir / "faultsweep_specs.py")
    rc, out, got = script(ctx, f"NAMES = {['a', 'b'][:n]!r}\n" + BG)
    check_no_traceback(out, f"{n} background fit(s)")
    if got["kind"] == "CASE-ERROR":
        return f"clear error: {got['msg'][:160]}"
    if got["kind"] != "CASE-RESULT":
        raise Fail(f"no result (exit {rc}):\n{tail(out)}")
    for name in ["a", "b"][:n]:
        equal_to_ref(load_all(ctx.dir / "D" / name)["last.pt"], ref, f"background fit {name} of {n} at once")
    return f"{n} background fit(s) = uninterrupted run"
