"""Checkpoints: the sink that decides when to save, atomic writes, and reading a checkpoint back.

What a checkpoint holds is the loop's business (nbtrain.resume: ``state.snapshot()``); this sink only decides when
to save it and under which name. Every value is a tensor or plain Python data, so ``load_checkpoint`` reads it
with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import torch

from ..callbacks import Callback
from ..errors import CheckpointError, NbtrainError
from ..resume import FORMAT
from .early_stop import improved



# -- writing, reading ------------------------------------------------------------------------------
def save_atomic(obj, path, saver=torch.save) -> Path:
    """Write to a temp file in the same folder, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        saver(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def copy_atomic(src, dst) -> Path:
    return save_atomic(None, dst, saver=lambda _obj, tmp: shutil.copyfile(src, tmp))


def _load_failure(e: Exception) -> str:
    """What went wrong in torch.load, without torch's generic advice to retry with weights_only=False."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``; ``map_location`` moves tensors (GPU-saved, CPU-loaded)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("no such file", str(p), "give the path of a .pt file written by nbtrain")
    try:
        ck = torch.load(p, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as e:
        first = _load_failure(e)
        if first.startswith("Unsupported global"):
            raise CheckpointError("holds pickled Python objects, not an nbtrain checkpoint (a whole saved model?)",
                                  str(p), "nbtrain reads checkpoints with torch.load(weights_only=True); load a whole "
                                  "model with torch.load(path, weights_only=False) only if you trust the file") from None
        raise CheckpointError(f"not a readable checkpoint ({first[:200]})", str(p),
                              "the file is corrupt or not a torch checkpoint; use another one, e.g. best.pt or an "
                              "earlier epoch_*.pt") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError("not an nbtrain checkpoint (no 'format' entry)", str(p),
                              "give a file written by nbtrain's checkpoints; for a bare state_dict use "
                              "model.load_state_dict(torch.load(path, weights_only=True))")
    return ck


# -- the sink ---------------------------------------------------------------------------------------
class Checkpoint(Callback):
    """Writes ``epoch_NNN.pt`` every epoch (keeping the last ``keep_last``), ``best.pt`` when ``monitor``
    improves, ``last.pt`` at the end, and ``interrupted.pt`` when the run is interrupted mid-epoch.

    ``saver(obj, path)`` is injectable (default torch.save) so the logic is testable without a disk.
    """
    state_key = "checkpoint"

    def __init__(self, directory, keep_last: int = 2, monitor: str = "val_loss", mode: str = "min",
                 saver=torch.save):
        self.dir = Path(directory)
        self.keep_last, self.monitor, self.mode, self.saver = keep_last, monitor, mode, saver
        self.best = None
        self.written: list[Path] = []
        self.interrupted: Path | None = None    # interrupted.pt, once written
        self.last: Path | None = None           # last.pt, once written
        check_writable(self.dir, "loop.checkpoint_dir")

    def _write(self, state, name: str) -> Path:
        return save_atomic(state.snapshot(), self.dir / name, self.saver)

    def on_epoch_end(self, state, logs: dict) -> None:
        path = self._write(state, f"epoch_{state.epoch + 1:03d}.pt")
        self.written.append(path)
        value = logs.get(self.monitor)
        if value is not None and improved(value, self.best, self.mode, 0.0):
            self.best = value
            copy_atomic(path, self.dir / "best.pt")   # the same bytes: no second serialization
        self._prune()

    def _prune(self) -> None:
        epochs = sorted(self.dir.glob("epoch_*.pt"))
        for old in epochs[:max(0, len(epochs) - self.keep_last)]:
            old.unlink(missing_ok=True)

    def on_interrupt(self, state, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt):
            self.interrupted = self._write(state, "interrupted.pt")

    def on_fit_end(self, state) -> None:
        if state.history is not None and not state.history.epochs and self.interrupted is None:
            return
        self.last = self._write(state, "last.pt")

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, d: dict) -> None:
        self.best = d.get("best")


def check_writable(directory: Path, where: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".nbtrain-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise NbtrainError(f"cannot write to {str(directory)!r} ({e.strerror or e})", where,
                           "choose a folder you can write to") from None

