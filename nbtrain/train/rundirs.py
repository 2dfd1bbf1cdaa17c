"""Each run its own folders: ``logdir/<run_name>`` for TensorBoard, ``checkpoint_dir/<run_name>`` for checkpoints.

One folder for both (``logdir == checkpoint_dir``, as Lightning lays runs out) is one folder per run:
``D/<run_name>/`` holds the events file, ``nbtrain-run.json`` and the ``*.pt`` checkpoints side by side.

A run's name is a plain folder name (no path). Without one, the name is the start time; two runs started in the same
second (two background runs, a quick rerun) get ``-2``, ``-3``... A run holds its folders while it trains: a hidden
``.nbtrain-lock`` folder inside each, made with ``os.mkdir`` (atomic: of two processes or threads, exactly one
makes it), holding the owner's host and pid, removed when the run ends. So two runs never share a file, whatever the
timing: a second run (or resume) with the name of a run still training is refused, and a lock whose process died
(kill -9) is taken over. A name given explicitly whose folders hold files is refused, unless the run resumes from a
checkpoint (it goes on in its folders) or ``overwrite=True`` (the old folders are removed first). Hidden files
(the temp file of a write a kill -9 cut short) do not make a folder taken: the new run's checkpoint sink removes them.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NbtrainError
from .writefaults import folder_failure

NAME = re.compile(r"[A-Za-z0-9_.+=@,-]+")
FILENAME = "nbtrain-run.json"   # the run record's JSON in each run folder (sinks/runinfo writes it; nb.runs reads it)
LOCK = ".nbtrain-lock"


def check_run_name(name: str) -> str:
    if not NAME.fullmatch(name) or name in (".", "..") or len(name) > 200:
        raise NbtrainError(f"run_name must be a plain folder name, got {name!r}", "loop.run_name",
                           "use letters, digits and - _ . (no / or \\), e.g. 'lr0.01-adam'; choose where runs go with "
                           "logdir and checkpoint_dir")
    return name


@dataclass
class Claim:
    """A run's name and the locks it holds on its folders; ``release()`` when the run ends (twice is harmless)."""
    name: str
    locks: list = field(default_factory=list)

    def release(self) -> None:
        for lock in self.locks:
            shutil.rmtree(lock, ignore_errors=True)
        self.locks = []

    @contextlib.contextmanager
    def released_on_error(self):
        try:
            yield
        except BaseException:
            self.release()
            raise


def run_folders(ls, name: str) -> list[Path]:
    """The run's folders, once each (logdir and checkpoint_dir may be one folder)."""
    out: list[Path] = []
    for d in (ls.logdir, ls.checkpoint_dir):
        if d and not any(same_folder(Path(d) / name, f) for f in out):
            out.append(Path(d) / name)
    return out


def same_folder(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (a.exists() and b.exists() and os.path.samefile(a, b))


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _owner_of(lock: Path) -> str:
    try:
        host, pid = (lock / "owner").read_text().split()
        return f"process {pid} on {host}"
    except (OSError, ValueError):
        return "starting"


def _dead(lock: Path) -> bool:
    """Whether the lock's owner is a process of this host that is gone (a kill -9, a crash)."""
    try:
        host, pid = (lock / "owner").read_text().split()
    except (OSError, ValueError):
        return time.time() - _mtime(lock) > 60       # made, owner not yet written: a crash between, or just now
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return time.time()


def _lock(folder: Path) -> Path | None:
    """Take ``folder``'s lock; None when a live run holds it."""
    lock = folder / LOCK
    for _ in range(2):
        try:
            os.mkdir(lock)
        except FileExistsError:
            if not _dead(lock):
                return None
            stale = folder / f"{LOCK}.stale-{os.getpid()}-{time.monotonic_ns()}"
            try:
                os.rename(lock, stale)       # one taker wins the rename; the others find the lock gone or new
            except OSError:
                continue
            shutil.rmtree(stale, ignore_errors=True)
            continue
        (lock / "owner").write_text(_owner())
        return lock
    return None


def _claim(folders: list[Path], claim: Claim, fresh: bool, ls) -> bool:
    """Make (``fresh``: exclusively) and lock every folder; False, nothing held, if one is taken or in use. A folder
    that cannot be made or locked (a read-only disk, no permission) is one clear error naming its setting."""
    made = []
    for f in folders:
        try:
            f.mkdir(exist_ok=not fresh)
        except FileExistsError:
            return _undo(claim, made)
        except OSError as e:
            _undo(claim, made)
            raise folder_failure(f, e, _setting(ls, f)) from None
        if fresh:
            made.append(f)
        try:
            lock = _lock(f)
        except OSError as e:
            _undo(claim, made)
            raise folder_failure(f, e, _setting(ls, f)) from None
        if lock is None:
            return _undo(claim, made)
        claim.locks.append(lock)
    return True


def _setting(ls, folder: Path) -> str:
    """Which setting chose the run folder ``folder``: loop.logdir or loop.checkpoint_dir."""
    return "loop.logdir" if ls.logdir and same_folder(Path(ls.logdir), folder.parent) else "loop.checkpoint_dir"


def _undo(claim: Claim, made: list[Path]) -> bool:
    claim.release()
    for m in made:
        shutil.rmtree(m, ignore_errors=True)
    return False


def claim_run(ls, *, resume: bool = False, overwrite: bool = False, is_main: bool = True,
              clock=time.strftime) -> Claim:
    """The run's name, its folders created and locked (on the main process) so no other run can take them."""
    for folder, where in ((ls.logdir, "loop.logdir"), (ls.checkpoint_dir, "loop.checkpoint_dir")):
        if folder and is_main:
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                name = ls.run_name or "<run>"
                raise NbtrainError(f"cannot write to {str(Path(folder) / name)!r} ({e.strerror or e})", where,
                                   "choose a folder you can write to") from None
    if ls.run_name:
        return _claim_named(ls, check_run_name(ls.run_name), resume, overwrite, is_main)
    base = clock("%Y%m%d-%H%M%S")
    if not is_main or not run_folders(ls, base):
        return Claim(base)
    for k in range(1, 1000):
        claim = Claim(base if k == 1 else f"{base}-{k}")
        if _claim(run_folders(ls, claim.name), claim, fresh=True, ls=ls):
            return claim
    raise NbtrainError(f"could not find a free run folder for {base!r} in {run_folders(ls, base)[0].parent}",
                       "loop.run_name", "give a run_name, or remove the runs of that second")


def training_now(name: str, held: Path, owner: str) -> NbtrainError:
    """The error for a second run (or resume) of the run ``name`` while ``owner`` trains it in ``held``."""
    return NbtrainError(f"the run {name!r} is training now in another process or thread ({held}, {owner})",
                        "loop.run_name", f"wait for it to end, or choose another run_name; if that process is gone "
                        f"(on another machine), remove {held / LOCK}")


def _visible(f: Path) -> bool:
    return f.exists() and any(not c.name.startswith(".") for c in f.iterdir())


def _claim_named(ls, name: str, resume: bool, overwrite: bool, is_main: bool) -> Claim:
    claim = Claim(name)
    if not is_main:
        return claim
    folders = run_folders(ls, name)
    if not _claim(folders, claim, fresh=False, ls=ls):
        held = next((f for f in folders if (f / LOCK).exists()), folders[0])
        raise training_now(name, held, _owner_of(held / LOCK))
    taken = [f for f in folders if _visible(f)]
    if taken and overwrite:
        for f in taken:
            for c in f.iterdir():
                if c.name != LOCK:
                    shutil.rmtree(c) if c.is_dir() and not c.is_symlink() else c.unlink()
    elif taken and not resume:
        claim.release()
        raise NbtrainError(f"a run named {name!r} exists already ({taken[0]})", "loop.run_name",
                           "choose another run_name, leave it empty for a new timestamped run, resume it with "
                           "resume=<its last.pt>, or pass overwrite=True to replace it")
    return claim


def check_writable(directory: Path, where: str) -> None:
    """Make ``directory`` and check a file can be written there, or say which setting names it (``where``)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".nbtrain-write-test-", dir=directory)   # unique per run and thread
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise NbtrainError(f"cannot write to {str(directory)!r} ({e.strerror or e})", where,
                           "choose a folder you can write to") from None

