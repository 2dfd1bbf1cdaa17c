"""Faults at a `nbtrain run`'s start (issue 24, the fault sweep's findings 1, 5 and 9; finding 2, the abort's resume
line, is asserted in tests/test_signal_abort.py).

- A signal while the CLI still imports torch ends in one line, ``nbtrain: interrupted``, and the shell's status for
  it (130, 143, 129), no traceback: both as ``python -m nbtrain`` and as the ``nbtrain`` console script. The child
  holds the import of torch open (a meta path finder that waits) until the signal has arrived: no timing guess.
- A text file given to ``--resume``: one error naming the file, that it is no checkpoint, and what to use instead.
- A checkpoint_dir or logdir that cannot be written from the start: one error naming the run folder, the cause and
  the fix; a real read-only tmpfs in a private mount namespace (``unshare -rm``, as tests/test_diskfaults.py; skipped
  where none can be made), and EROFS / EACCES injected at ``os.mkdir`` (runs everywhere, as root too).
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_loop_spec import small_spec

from nbtrain.cli import main

HOLD = """
import importlib.abc, os, runpy, sys, time
class Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            open(os.environ["READY"], "w").close()
            time.sleep(60)                  # the signal's handler runs here, inside `import torch`
        return None
sys.meta_path.insert(0, Hold())
sys.argv = ["nbtrain", *sys.argv[1:]]
if os.environ["FORM"] == "module":
    runpy.run_module("nbtrain", run_name="__main__", alter_sys=True)
else:                                       # what the installed console script does
    from nbtrain.cli import main
    sys.exit(main())
"""


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]), OMP_NUM_THREADS="1", **extra)


@pytest.mark.serial
@pytest.mark.parametrize("form,sig,rc", [("module", signal.SIGINT, 130), ("script", signal.SIGINT, 130),
                                         ("module", signal.SIGTERM, 143), ("script", signal.SIGHUP, 129)])
def test_a_signal_while_torch_is_imported_ends_in_one_line(tmp_path, form, sig, rc):
    spec, ready = tmp_path / "spec.json", tmp_path / "ready"
    small_spec().save(spec)
    p = subprocess.Popen([sys.executable, "-c", HOLD, "run", str(spec), "--checkpoint-dir", str(tmp_path / "ck")],
                         env=_env(READY=str(ready), FORM=form), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    t = time.monotonic()
    while not ready.exists():
        assert p.poll() is None and time.monotonic() - t < 60, p.communicate()
        time.sleep(0.01)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out, err) == (rc, "", "nbtrain: interrupted\n")
    assert not (tmp_path / "ck").exists()


def test_a_text_file_given_to_resume_is_one_clear_error(tmp_path, capsys):
    spec, broken = tmp_path / "spec.json", tmp_path / "broken.pt"
    small_spec().save(spec)
    broken.write_text("epoch: 2\n")
    assert main(["run", str(spec), "--resume", str(broken), "--checkpoint-dir", str(tmp_path / "ck"), "--logdir", "",
                 "--run-name", "e"]) == 2
    assert capsys.readouterr().err == (
        f"nbtrain: error: {broken}: not a readable checkpoint (not a file torch.save wrote) (the file is corrupt or "
        "not a torch checkpoint; use another one, e.g. best.pt or an earlier epoch_*.pt)\n")
    assert broken.read_text() == "epoch: 2\n"


def _fix(setting: str, fix: str) -> str:
    return f"(choose another {setting} or {fix}; on the command line: --{setting.replace('_', '-')} DIR)"


READ_ONLY = "the file system is read-only (Read-only file system)"


@pytest.mark.parametrize("option,setting,code,what,fix", [
    ("--checkpoint-dir", "checkpoint_dir", errno.EROFS, READ_ONLY, "make that folder writable"),
    ("--logdir", "logdir", errno.EACCES, "permission denied (Permission denied)", "fix the folder's permissions"),
])
@pytest.mark.parametrize("at", ["folder", "lock"])
def test_a_run_folder_that_cannot_be_written_is_one_clear_error(tmp_path, capsys, monkeypatch, option, setting, code,
                                                               what, fix, at):
    spec, bad, good = tmp_path / "spec.json", tmp_path / "bad", tmp_path / "good"
    small_spec().save(spec)
    bad.mkdir()
    if at == "lock":                    # the run folder exists (a resume): its lock cannot be made
        (bad / "r").mkdir()
    target = bad / "r" if at == "folder" else bad / "r" / ".nbtrain-lock"
    real = os.mkdir

    def refused(path, *a, **k):
        if Path(path) == target:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "mkdir", refused)
    other = "--logdir" if option == "--checkpoint-dir" else "--checkpoint-dir"
    assert main(["run", str(spec), option, str(bad), other, str(good), "--run-name", "r", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert err == f"nbtrain: error: loop.{setting}: cannot write in '{bad / 'r'}': {what} {_fix(setting, fix)}\n"
    assert not (good / "r" / ".nbtrain-lock").exists()       # nothing held: the run can start elsewhere


CHILD = """
import contextlib, io, json, sys
from nbtrain.cli import main
for option, other in (("--checkpoint-dir", "--logdir"), ("--logdir", "--checkpoint-dir")):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["run", sys.argv[1], option, sys.argv[2], other, sys.argv[3], "--run-name", "r"])
    print(json.dumps([option, rc, err.getvalue()]))
"""


@pytest.mark.serial
def test_a_read_only_disk_at_the_start_is_one_clear_error(tmp_path):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("no private mount namespace here (unshare -rm): the injected cases above cover the errors")
    spec, ro, good = tmp_path / "spec.json", tmp_path / "M", tmp_path / "good"
    small_spec().save(spec)
    ro.mkdir()
    script = (f"mount -t tmpfs -o size=64k,ro tmpfs {ro} || exit 97; "
              f"exec {sys.executable} -c '{CHILD}' {spec} {ro} {good}")
    out = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=240,
                         env=_env(), cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    got = [json.loads(line) for line in out.stdout.splitlines()]
    assert got == [[option, 2, f"nbtrain: error: loop.{setting}: cannot write in '{ro / 'r'}': {READ_ONLY} "
                    f"{_fix(setting, 'make that folder writable')}\n"]
                   for option, setting in (("--checkpoint-dir", "checkpoint_dir"), ("--logdir", "logdir"))]
