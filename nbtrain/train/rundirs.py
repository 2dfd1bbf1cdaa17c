"""Each run its own folders: ``logdir/<run_name>`` for TensorBoard, ``checkpoint_dir/<run_name>`` for checkpoints.

A run's name is a plain folder name (no path). Without one, the name is the start time; two runs started in the same
second (two background runs, a quick rerun) get ``-2``, ``-3``... The folders are claimed with an atomic ``mkdir``, so
two runs never share a file. A name given explicitly whose folders exist is refused, unless the run resumes from a
checkpoint (it goes on in its folders) or ``overwrite=True`` (the old folders are removed first). Hidden files
(the temp file of a write a kill -9 cut short) do not make a folder taken: the new run's checkpoint sink removes them.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import NbtrainError

NAME = re.compile(r"[A-Za-z0-9_.+=@,-]+")
FILENAME = "nbtrain-run.json"   # the run record's JSON in each run folder (sinks/runinfo writes it; nb.runs reads it)


def check_run_name(name: str) -> str:
    if not NAME.fullmatch(name) or name in (".", "..") or len(name) > 200:
        raise NbtrainError(f"run_name must be a plain folder name, got {name!r}", "loop.run_name",
                           "use letters, digits and - _ . (no / or \\), e.g. 'lr0.01-adam'; choose where runs go with "
                           "logdir and checkpoint_dir")
    return name


def _folders(ls, name: str) -> list[Path]:
    return [Path(d) / name for d in (ls.logdir, ls.checkpoint_dir) if d]


def _claim(folders: list[Path]) -> bool:
    """Create every folder; False (and nothing left behind) if any exists already."""
    made = []
    for f in folders:
        try:
            f.mkdir()
        except FileExistsError:
            for m in made:
                shutil.rmtree(m, ignore_errors=True)
            return False
        made.append(f)
    return True


def claim_run(ls, *, resume: bool = False, overwrite: bool = False, is_main: bool = True, clock=time.strftime) -> str:
    """The run's name, its folders created (on the main process) so no other run can take them."""
    for folder, where in ((ls.logdir, "loop.logdir"), (ls.checkpoint_dir, "loop.checkpoint_dir")):
        if folder and is_main:
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                name = ls.run_name or "<run>"
                raise NbtrainError(f"cannot write to {str(Path(folder) / name)!r} ({e.strerror or e})", where,
                                   "choose a folder you can write to") from None
    return _claim_run(ls, resume, overwrite, is_main, clock)


def _claim_run(ls, resume: bool, overwrite: bool, is_main: bool, clock) -> str:
    if ls.run_name:
        name = check_run_name(ls.run_name)
        if not is_main:
            return name
        folders = _folders(ls, name)
        taken = [f for f in folders if f.exists() and any(not c.name.startswith(".") for c in f.iterdir())]
        if taken and overwrite:
            for f in taken:
                shutil.rmtree(f)
        elif taken and not resume:
            raise NbtrainError(f"a run named {name!r} exists already ({taken[0]})", "loop.run_name",
                               "choose another run_name, leave it empty for a new timestamped run, resume it with "
                               "resume=<its last.pt>, or pass overwrite=True to replace it")
        for f in folders:
            f.mkdir(parents=True, exist_ok=True)
        return name
    base = clock("%Y%m%d-%H%M%S")
    if not is_main or not _folders(ls, base):
        return base
    for k in range(1, 1000):
        name = base if k == 1 else f"{base}-{k}"
        if _claim(_folders(ls, name)):
            return name
    raise NbtrainError(f"could not find a free run folder for {base!r}", "loop.run_name", "give a run_name")


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

