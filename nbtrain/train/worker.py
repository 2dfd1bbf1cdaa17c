"""One worker of ``fit(spec, processes=N)``, started by torchrun: ``python -m nbtrain.train.worker FOLDER``.

FOLDER (made by the kernel) holds ``job.json`` (the spec, the resume argument) and receives the events
(nbtrain.train.relay). Every rank follows the kernel's controls; rank 0 relays the run and, at the end, writes the History
as ``history.json``. A failure is written as ``error_<rank>.json`` (what went wrong, in one line) before the process
exits with status 1. Each worker writes its PID (``pid_<rank>``) and its output (``rank_<rank>.log``) there too, and
watches the kernel (nbtrain.train.kernelwatch.watch_kernel): when the kernel is gone, the worker leaves at once.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .kernelwatch import watch_kernel
from .loop import fit
from .relay import HISTORY, Follow, Relay


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, default=str), encoding="utf-8")
    os.replace(tmp, path)


def run(folder: Path) -> int:
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    rank = int(os.environ.get("RANK", "0"))
    callbacks = [Follow(folder)] + ([Relay(folder)] if rank == 0 else [])
    try:
        h = fit(job["spec"], resume=job.get("resume"), callbacks=callbacks, dashboard=False, progress=False)
    except BaseException as e:  # noqa: BLE001 - told to the kernel in one line, then the process fails
        _write_json(folder / f"error_{rank}.json", {"rank": rank, "error": f"{type(e).__name__}: {e}"})
        print(f"nbtrain worker rank {rank}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    if rank == 0:
        _write_json(folder / HISTORY, {**h.to_dict(), "run_name": h.run_name, "interrupted": h.interrupted})
    return 0


def _own_files(folder: Path) -> None:
    """This worker's PID (the kernel checks that it is gone) and its output, C-level writes included, in files."""
    rank = os.environ.get("RANK", "0")
    (folder / f"pid_{rank}").write_text(str(os.getpid()))
    fd = os.open(folder / f"rank_{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0])
    _own_files(folder)
    watch_kernel(lambda: os._exit(1))             # the notebook is gone: so is this worker (nothing to save for)
    code = run(folder)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)    # all is written (atomic checkpoints, history.json): skip the interpreter's teardown of torch



if __name__ == "__main__":
    sys.exit(main())
