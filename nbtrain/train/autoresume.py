"""``resume="auto"``: continue a named run from its newest complete checkpoint, or start it fresh.

A restarted worker (``torchrun --max-restarts K`` after a lost process, a preempted job sent again, a kernel restarted)
runs the very same command again; with ``--resume auto --run-name NAME`` it finds its own folder,
``checkpoint_dir/NAME``, and goes on from the newest checkpoint there that reads back whole (``last.pt``,
``interrupted.pt`` or an ``epoch_NNN.pt``; a file that does not load is skipped: checkpoints are written atomically, so
only a foreign or damaged file fails). "Newest" is the most training done: the largest (epoch, step), the latest
written on a tie. Under torchrun rank 0 chooses and tells every rank (one broadcast), so all ranks load the same file.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import NbtrainError
from .resume import FORMAT

AUTO = "auto"
NAMES = ("last.pt", "interrupted.pt", "epoch_*.pt")


def _progress(path: Path):
    """(epoch, step, mtime) of a complete nbtrain checkpoint, or None for a file that does not read back whole."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # damaged, foreign or cut short: not a checkpoint to continue from
        return None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        return None
    try:
        return int(ck["epoch"]), int(ck["step"]), path.stat().st_mtime_ns
    except (KeyError, TypeError, ValueError, OSError):
        return None


def newest_checkpoint(folder) -> Path | None:
    """The checkpoint in ``folder`` with the most training done, or None when it holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [(key, p) for pattern in NAMES for p in sorted(folder.glob(pattern))
             if p.is_file() and (key := _progress(p)) is not None]
    return max(found, key=lambda kp: kp[0])[1] if found else None


def run_folder(ls) -> Path:
    """The checkpoint folder of the run ``ls`` names; one clear error when it names none."""
    if not ls.run_name:
        raise NbtrainError('resume="auto" needs the run\'s name, to find its folder', "loop.run_name",
                           "give run_name='NAME' (on the command line: --run-name NAME); the same name every time "
                           "the run is started")
    if not ls.checkpoint_dir:
        raise NbtrainError('resume="auto" needs checkpoints, and checkpoint_dir is empty', "loop.checkpoint_dir",
                           "give checkpoint_dir (on the command line: --checkpoint-dir DIR)")
    return Path(ls.checkpoint_dir) / ls.run_name


def resolve(resume, ls, ctx):
    """``(path or None, continuing)`` for fit's ``resume``: a path is itself; "auto" is the newest checkpoint of the
    run's folder (None: start fresh), ``continuing`` True so the run may take its existing folder."""
    if not (isinstance(resume, str) and resume == AUTO):
        return resume, False
    folder = run_folder(ls)
    found = newest_checkpoint(folder) if ctx.is_main else None
    if ctx.active:                  # rank 0 chooses; every rank loads what it chose
        box = [str(found) if found is not None else ""]
        torch.distributed.broadcast_object_list(box, src=0)
        found = Path(box[0]) if box[0] else None
    if found is not None and not found.is_file():
        raise NbtrainError(f"rank {ctx.rank} cannot read {found}, the checkpoint rank 0 resumes from",
                           "loop.checkpoint_dir", "put checkpoint_dir on a file system every node shares")
    return found, True
