"""Real signals from this process to a run held inside a phase (or sent after a delay), then `--resume auto`: the
run must end promptly with its signal's exit status and a resumable checkpoint, the record "interrupted" (or
"finished" when every epoch was trained), no epoch that was saved lost, and the resumed run must end with the
uninterrupted run's weights and losses (torch.equal)."""
from __future__ import annotations

import json
import signal
import threading
import time

from faultsweep_cases.common import (
    CHILD,
    PY,
    Fail,
    check_no_traceback,
    cli,
    equal_to_ref,
    load_all,
    record,
    run,
    start,
    tail,
    wait_for,
)

N = 23                 # training batches per epoch of the tiny specs (1437 samples, batch 64)
V = 6                  # validation batches


def _presses(proc, sig: int, presses: int) -> None:
    for _ in range(presses):
        proc.signal(sig)
        time.sleep(0.25)


def _cut(ctx, variant: str, phase: str, at: float, sig: int, presses: int, api: str):
    spec, d = ctx.refs.spec(variant), ctx.dir / "D"
    ready, sent, done = ctx.dir / "ready", ctx.dir / "sent", ctx.dir / "done"   # done: see child.py
    args = _args(api, spec, d, None)
    if phase == "time":             # the real entry point: its Ctrl-C handler is set before torch is imported
        args = [PY, "-m", "nbtrain", *args[2:]]
    proc = start(args, ctx.dir, "cut", PHASE=phase if phase != "time" else "", AT=int(at) if phase != "time" else 1,
                 READY=ready, SENT=sent, DONE=done)
    if phase == "time":
        time.sleep(at)
        held, before_end = {"phase": f"{at}s after start", "saved": 0}, at < 2.0   # a run takes > 4 s
    else:
        wait_for(ready, proc)
        held, before_end = json.loads(ready.read_text()), phase not in ("fit_end",)
    _presses(proc, sig, presses)
    sent.touch()
    rc = proc.wait()
    return proc, rc, held, before_end


def _args(api: str, spec, d, resume):
    if api == "fit":
        return [PY, CHILD, "fit", spec, d, "cut", resume or ""]
    extra = ["--resume", resume] if resume else []
    return cli(spec, "--checkpoint-dir", d, "--logdir", d, "--run-name", "cut", *extra)


def _ref_beside(ctx, variant: str):
    """The reference run in a thread while the cut run starts (two processes at once, not one after the other)."""
    box: dict = {}

    def get():
        try:
            box["ref"] = ctx.refs.get(variant)
        except Exception as e:  # noqa: BLE001 - raised where the reference is used
            box["error"] = e
    t = threading.Thread(target=get, daemon=True)
    t.start()

    def wait():
        t.join()
        if "error" in box:
            raise box["error"]
        return box["ref"]
    return wait


def signal_case(ctx, variant: str, phase: str, at: float, sig: int, presses: int = 1, api: str = "cli") -> str:
    ctx.refs.spec(variant)
    ref_wait = _ref_beside(ctx, variant)
    proc, rc, held, before_end = _cut(ctx, variant, phase, at, int(sig), presses, api)
    ref = ref_wait()
    out = proc.out()
    aborted_script = api == "fit" and presses >= 3 and out.rstrip().endswith(
        ("nbtrain.train.interrupts.Abort: " + signal.Signals(sig).name, "KeyboardInterrupt"))
    if aborted_script:          # a script aborted by a third press ends as Python ends any Ctrl-C'd script
        rc = 128 + sig if rc == 1 else rc
    else:
        check_no_traceback(out, "the interrupted run")
    run_dir = ctx.dir / "D" / "cut"
    rec = record(run_dir)
    status = rec.get("status")
    what = f"{api} {signal.Signals(sig).name} x{presses} at {held['phase']} (epochs saved {held['saved']})"
    ok_rcs = {128 + sig} | ({0} if api == "fit" or not before_end else set())
    if rc == -sig and phase == "time" and not run_dir.exists():
        rc = 128 + sig          # ended by the signal's default action before any run began: what the shell shows
    if rc not in ok_rcs:
        raise Fail(f"EXIT {rc} (want {sorted(ok_rcs)}) after {what}; record {status!r} "
                   f"{rec.get('stop_reason')!r}\n{tail(out)}")
    started = run_dir.exists() or phase != "time"     # a signal while it starts up: nothing to save yet
    if started and status not in ("interrupted", "finished", "stopped"):
        raise Fail(f"RECORD {status!r} after {what} (exit {rc})\n{tail(out)}")
    if status in ("finished", "stopped") and before_end and not (api == "fit" and rc == 128 + sig):
        raise Fail(f"SIGNAL DROPPED: {what}: the run went on to the end, exit {rc}, record 'finished'\n{tail(out)}")
    if (run_dir / ".nbtrain-lock").exists():
        raise Fail(f"LOCK LEFT: {run_dir / '.nbtrain-lock'} after {what}")
    cks = load_all(run_dir)
    _no_epoch_lost(cks, held, what)
    if api == "cli" and status == "interrupted" and cks and "resume it:" not in out:
        raise Fail(f"NO RESUME LINE after {what}:\n{tail(out)}")
    if status in ("finished", "stopped") and "last.pt" in cks:
        equal_to_ref(cks["last.pt"], ref, f"the finished run after {what}")
        return f"exit {rc}, finished, last.pt = uninterrupted run"
    return _resume(ctx, variant, api, ref, what, rc, status)


def _no_epoch_lost(cks: dict, held: dict, what: str) -> None:
    epochs_in = max((len(c["history"]["epochs"]) for c in cks.values()), default=0)
    if epochs_in < held["saved"]:
        raise Fail(f"DATA LOSS: {what}: {held['saved']} epoch(s) had been saved, the checkpoints left hold "
                   f"{epochs_in}: {sorted(cks)}")


def _resume(ctx, variant, api, ref, what, rc, status) -> str:
    args = _args(api, ctx.refs.spec(variant), ctx.dir / "D", "auto")
    rc2, out2 = run(args, ctx.dir, "resume")
    check_no_traceback(out2, "the resumed run")
    if rc2 != 0:
        raise Fail(f"RESUME FAILED: exit {rc2} after {what}\n{tail(out2)}")
    run_dir = ctx.dir / "D" / "cut"
    cks = load_all(run_dir)
    if "last.pt" not in cks:
        raise Fail(f"NO last.pt after the resume ({what}): {sorted(cks)}")
    equal_to_ref(cks["last.pt"], ref, f"the resumed run after {what}")
    want = record(ctx.refs.root / "refs" / variant / "ref").get("status")     # "stopped" where early stopping ends it
    if record(run_dir).get("status") != want:
        raise Fail(f"RECORD {record(run_dir).get('status')!r} (the uninterrupted run's: {want!r}) after the resume "
                   f"finished ({what})")
    return f"exit {rc}, {status}; resumed to the uninterrupted run's numbers"


def kill9_case(ctx, variant: str, phase: str, at: float) -> str:
    """kill -9 (nothing runs in the child), then `--resume auto`: only whole checkpoints, no saved epoch lost."""
    ctx.refs.spec(variant)
    ref_wait = _ref_beside(ctx, variant)
    proc, rc, held, _ = _cut(ctx, variant, phase, at, signal.SIGKILL, 1, "cli")
    ref = ref_wait()
    if rc != -signal.SIGKILL:
        raise Fail(f"kill -9 at {held['phase']}: exit {rc}\n{tail(proc.out())}")
    cks = load_all(ctx.dir / "D" / "cut")
    _no_epoch_lost(cks, held, f"kill -9 at {held['phase']}")
    return _resume(ctx, variant, "cli", ref, f"kill -9 at {held['phase']}", rc, "killed")
