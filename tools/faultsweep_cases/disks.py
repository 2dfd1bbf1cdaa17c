"""Full and read-only disks under checkpoints and logs (Deliver 3): real tmpfs mounts of a few KiB in a private mount
namespace (`unshare -rm`, as tests/diskfault_child.py does), filled by the run's own writes or remounted read-only
while the run is held inside epoch 2. Each must be one clear error naming the folder, with no hang, and the
checkpoints written before must load and resume to the uninterrupted run's numbers."""
from __future__ import annotations

import shutil
import subprocess

from faultsweep_cases.common import (
    CHILD,
    PY,
    Fail,
    check_no_traceback,
    clear_error,
    cli,
    equal_to_ref,
    load_all,
    run,
    tail,
)
from faultsweep_cases.signals import N

SH = '''set -u
mkdir -p {m} {copy}
mount -t tmpfs -o size={size} tmpfs {m} || exit 97
{ro_start}
{py} {child} run {spec} --checkpoint-dir {ck} --logdir {logs} --run-name r > {log} 2>&1 &
pid=$!
{mid}
wait $pid; echo $? > {rcfile}
cp -a {m}/. {copy}/ 2>/dev/null
exit 0
'''
MID = '''while [ ! -e {ready} ]; do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
mount -o remount,ro {m} || echo REMOUNT-FAILED; touch {sent}'''
CASES = {   # name -> (what sits on the small disk: "ck", "logs" or "both"; its size; how it fails; error words)
    "ckpt-full": ("ck", "64k", "full", ("checkpoint_dir",)),
    "ckpt-full-second-epoch": ("ck", "100k", "full", ("checkpoint_dir",)),
    "ckpt-readonly-at-start": ("ck", "1m", "ro_start", ("checkpoint_dir",)),
    "ckpt-readonly-mid-run": ("ck", "1m", "ro_mid", ("checkpoint_dir",)),
    "logs-full": ("logs", "40k", "full", ("logdir",)),
    "logs-readonly-at-start": ("logs", "1m", "ro_start", ("logdir",)),
    "one-folder-full": ("both", "80k", "full", ()),
    "logs-full-16k": ("logs", "16k", "full", ("logdir",)),
    "ckpt-full-8k": ("ck", "8k", "full", ("checkpoint_dir",)),
}


def available() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True).returncode == 0


def disk_case(ctx, name: str) -> str:
    if not available():
        raise Fail("SKIPPED: no private mount namespace here (unshare -rm fails)")
    where, size, how, says = CASES[name]
    ref, spec = ctx.refs.get("epochs5"), ctx.refs.spec("epochs5")
    m, copy, other = ctx.dir / "M", ctx.dir / "copy", ctx.dir / "other"
    ck = m if where in ("ck", "both") else other
    logs = m if where in ("logs", "both") else other
    sh = SH.format(m=m, copy=copy, size=size, py=PY, child=CHILD, spec=spec, ck=ck, logs=logs, log=ctx.dir / "run.log",
                   rcfile=ctx.dir / "rc", ro_start=f"mount -o remount,ro {m}" if how == "ro_start" else "",
                   mid=MID.format(ready=ctx.dir / "ready", m=m, sent=ctx.dir / "sent") if how == "ro_mid" else "")
    env = dict(PHASE="step", AT=N + 5, READY=ctx.dir / "ready", SENT=ctx.dir / "sent") if how == "ro_mid" else {}
    code, shout = run(["unshare", "-rm", "bash", "-c", sh], ctx.dir, "namespace", **env)
    if code != 0 or not (ctx.dir / "rc").exists():
        raise Fail(f"the namespace failed (exit {code}):\n{tail(shout)}")
    if "REMOUNT-FAILED" in shout:   # a file open for writing (TensorBoard's events) keeps a mount read-write
        raise Fail(f"HARNESS: the mid-run remount failed, no fault was made:\n{tail(shout)}")
    rc, out = int((ctx.dir / "rc").read_text()), (ctx.dir / "run.log").read_text()
    check_no_traceback(out, f"the run on a {how} disk")
    if rc == 0:
        raise Fail(f"SILENT: the run on a {how} disk ({where}, {size}) ended with exit 0:\n{tail(out)}")
    said = clear_error(rc, out, f"a {how} disk under {where}", says)
    return said + "; " + _resume_from_what_is_left(ctx, ref, spec, copy if where != "logs" else other, how)


def _resume_from_what_is_left(ctx, ref, spec, folder, how) -> str:
    """The checkpoints written before the fault load, and the run resumed from them ends as the straight run."""
    left = load_all(folder / "r")
    temps = [p.name for p in (folder / "r").glob(".*tmp*")] if (folder / "r").is_dir() else []
    if temps:
        raise Fail(f"TEMP FILES LEFT: {temps}")
    if how == "ro_start":
        return "nothing trained"
    if not left:
        return "no checkpoint had been written"
    rc, out = run(cli(spec, "--checkpoint-dir", folder, "--logdir", ctx.dir / "logs2", "--run-name", "r", "--resume",
                      "auto"), ctx.dir, "resume")
    check_no_traceback(out, "the resume after the disk fault")
    if rc != 0:
        raise Fail(f"RESUME FAILED after the disk fault: exit {rc}\n{tail(out)}")
    equal_to_ref(load_all(folder / "r")["last.pt"], ref, "the run resumed after the disk fault")
    return f"resumed from {sorted(left)} to the uninterrupted run's numbers"
