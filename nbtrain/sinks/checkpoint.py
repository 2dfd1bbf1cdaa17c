"""Checkpoints: the sink that decides when to save, atomic writes, and reading a checkpoint back.

What a checkpoint holds is the loop's business (nbtrain.train.resume: ``state.snapshot()``); this sink only decides when
to save it and under which name. Every value is a tensor or plain Python data, so ``load_checkpoint`` reads it
with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import shutil
import threading
import warnings
from pathlib import Path

import torch

from ..env import in_notebook, one_cpu_thread, pid_alive
from ..errors import NbtrainError
from ..train.callbacks import Callback
from ..train.history import record_of
from ..train.rundirs import check_writable
from ..train.writefaults import sink_writing


# -- writing, reading ------------------------------------------------------------------------------
def save_atomic(obj, path, saver=torch.save) -> Path:
    """Write to a temp file in the same folder, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        saver(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def link_atomic(src, dst) -> Path:
    """``dst`` as a second name of ``src``'s bytes: a hard link (nothing copied; nbtrain never writes a file in place,
    so neither name changes under the other), a copy where the file system has no hard links."""
    def saver(_obj, tmp):
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return save_atomic(None, dst, saver)


# -- the sink ---------------------------------------------------------------------------------------
class Checkpoint(Callback):
    """Writes ``epoch_NNN.pt`` every epoch (keeping the last ``keep_last``), ``best.pt`` at the run record's best
    epoch, ``last.pt`` at the end, and ``interrupted.pt`` when the run is interrupted mid-epoch.

    The best epoch is the record's (``state.history.best()``: the run's monitor and mode); ``monitor`` (and
    ``mode``, else the metric's catalog direction) name another key. ``saver(obj, path)`` is injectable (default
    torch.save) so the logic is testable without a disk.
    """

    def __init__(self, directory, keep_last: int = 2, monitor: str | None = None, mode: str | None = None,
                 saver=torch.save):
        self.dir = Path(directory)
        self.keep_last, self.monitor, self.mode, self.saver = keep_last, monitor, mode, saver
        self.best = None                        # the best value so far (the record's)
        self.written: list[Path] = []
        self.interrupted: Path | None = None    # interrupted.pt, once written
        self.last: Path | None = None           # last.pt, once written
        self.skipped: list[str] = []            # names not written because the weights were not finite
        self.failed: str = ""                   # the error of a write that failed (a full or read-only disk)
        check_writable(self.dir, "loop.checkpoint_dir")
        clean_stale_temps(self.dir)

    def _write(self, state, name: str) -> Path | None:
        """Save the loop's snapshot as ``name``; never weights that are not finite (a NaN run keeps its last good
        checkpoint for --resume)."""
        if not finite_weights(state.model):
            self.skipped.append(name)
            return None
        with self._writing(self.dir / name):
            return save_atomic(state.snapshot(), self.dir / name, self.saver)

    def _writing(self, path: Path):
        """A failed write (full or read-only disk) is one NbtrainError naming the file; the files written before are
        whole (each write goes to a temp file first), and this sink writes nothing more in this run."""
        return sink_writing(self, path, "loop.checkpoint_dir")

    def on_epoch_end(self, state, logs: dict) -> None:
        path = self._write(state, f"epoch_{state.epoch + 1:03d}.pt")
        if path is None:
            return
        self.written.append(path)
        top = record_of(state).best(self.monitor, self.mode)
        if top is not None and top[2] == logs.get("epoch", state.epoch + 1):
            self.best = top[1]
            with self._writing(self.dir / "best.pt"):
                link_atomic(path, self.dir / "best.pt")   # the same bytes: no second serialization
        self._prune()

    def _prune(self) -> None:
        epochs = sorted(self.dir.glob("epoch_*.pt"))
        for old in epochs[:max(0, len(epochs) - self.keep_last)]:
            with self._writing(old):
                old.unlink(missing_ok=True)

    def on_interrupt(self, state, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt) and not self.failed:
            self.interrupted = self._write(state, "interrupted.pt")

    def on_fit_end(self, state) -> None:
        if self.failed or (state.history is not None and not state.history.epochs and self.interrupted is None):
            return
        if getattr(state, "world_size", 1) > 1 and state.history is not None and state.history.status == "error":
            return      # under DDP an error (a peer gone mid-collective) leaves the ranks out of step: this rank's
            #             state is not the run's; the last agreed checkpoint stays the newest one for --resume auto
        try:
            self.last = self._write(state, "last.pt")
        except NbtrainError as e:
            if not (state.stop_reason or "").startswith("error:"):
                raise
            warnings.warn(f"last.pt was not written: {e}", RuntimeWarning, stacklevel=2)   # the run's error stands
        if self.interrupted is not None and in_notebook():
            print(resume_hint(state, self.interrupted), flush=True)


def resume_hint(state, path: Path) -> str:
    """Where an interrupted run stopped, its checkpoint and the call that resumes it (a notebook cell's last line)."""
    call = "nbtrain.fit(spec, resume=%r)" % str(path) if state.spec is not None else \
        "nbtrain.fit(model=model, ..., resume=%r)  (the same parts and arguments)" % str(path)
    return f"nbtrain: {state.stop_reason}; saved {path}; resume: {call}"


def clean_stale_temps(directory: Path) -> list[Path]:
    """Remove the temp files save_atomic left behind in a process that died (kill -9) mid-write."""
    gone = []
    for tmp in directory.glob(".*.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


def finite_weights(model) -> bool:
    """True when every parameter and buffer is finite. One fused norm per tensor, read once (a finite norm means
    finite elements), on one CPU thread (tiny ops: with torch's pool each one waits at a barrier, milliseconds on a
    busy 2-core machine); only when a norm is not finite (a NaN or an inf inside, or a huge finite tensor whose
    norm overflows) is each tensor checked element by element."""
    ts = [t.detach() for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()]
    if not ts:
        return True
    with one_cpu_thread(ts[0].device.type == "cpu"), torch.no_grad():
        try:
            if all(torch.isfinite(torch.stack([n.float() for n in torch._foreach_norm(ts)])).tolist()):
                return True
        except RuntimeError:  # tensors on several devices: the exact check below
            pass
        return all(bool(torch.isfinite(t).all()) for t in ts)
