"""A write that failed under a run's folders (a full or read-only disk, a quota) as one clear error.

A full disk shows as ``OSError(ENOSPC)`` from Python's own writes and as a RuntimeError from torch.save
("PytorchStreamWriter failed writing file ...", "unexpected pos 64 vs 0", "inline_container.cc"): both become one
NbtrainError that names the file, the cause and the setting to change. ``fault_of`` says which errors are such
failures; ``writing(path, where)`` turns them into that error around a write.
"""
from __future__ import annotations

import contextlib
import errno
import os
import queue
import shutil
from pathlib import Path

from ..errors import NbtrainError

FULL, READ_ONLY, REFUSED = "free space on that disk", "make that folder writable", "fix the folder's permissions"
CAUSES = {errno.ENOSPC: ("the disk is full", FULL), errno.EDQUOT: ("the disk quota is exceeded", FULL),
          errno.EROFS: ("the file system is read-only", READ_ONLY), errno.EACCES: ("permission denied", REFUSED),
          errno.EPERM: ("permission denied", REFUSED),
          errno.EIO: ("an I/O error (a failing or disconnected disk)", "check the disk"),
          errno.EFBIG: ("the file is too large for the file system", "use another file system")}
TORCH_WRITE = ("PytorchStreamWriter", "inline_container", "unexpected pos", "file write failed")


def fault_of(e: BaseException) -> bool:
    """Whether ``e`` is a failed write: an OSError, or torch.save's RuntimeError from its zip writer."""
    return isinstance(e, OSError) or (isinstance(e, RuntimeError) and any(t in str(e) for t in TORCH_WRITE))


def _cause(path: Path, e: BaseException) -> tuple[str, str]:
    """What went wrong and the first part of its fix. torch's zip writer says "unexpected pos 64 vs 0" or "file
    write failed", not why: the folder's file system is asked."""
    if isinstance(e, OSError) and e.errno in CAUSES:
        what, fix = CAUSES[e.errno]
        return f"{what} ({e.strerror})", fix
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "the file system is read-only", READ_ONLY
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    if free is not None and free < 1 << 20:
        return "the disk is full", FULL
    room = f", {free / 2**20:.0f} MiB free" if free is not None else ""
    return f"the write failed ({type(e).__name__}: {first}{room})", FULL


def write_failure(path, e: BaseException, where: str) -> NbtrainError:
    """The error for a write to ``path`` that failed with ``e``; ``where``: the setting that chose the folder."""
    path = Path(path)
    what, fix = _cause(path, e)
    return NbtrainError(f"cannot write {str(path)!r}: {what}", where,
                        f"{fix} or choose another {where.rsplit('.', 1)[-1]}, then resume from the run's newest "
                        "checkpoint: the ones written before are whole")


def folder_failure(folder, e: OSError, where: str) -> NbtrainError:
    """The error for a run folder that cannot be made or locked at the start (a read-only disk, no permission):
    nothing was written yet, so the fix is another folder; ``where``: the setting that chose it."""
    what, fix = _cause(Path(folder), e)
    setting = where.rsplit(".", 1)[-1]
    return NbtrainError(f"cannot write in {str(folder)!r}: {what}", where,
                        f"choose another {setting} or {fix}; on the command line: --{setting.replace('_', '-')} DIR")


def thread_failure(path, e: BaseException) -> NbtrainError:
    """The error for TensorBoard's writer thread failing for another reason than a write (``Watched``)."""
    return NbtrainError(f"TensorBoard's writer thread failed: {type(e).__name__}: {e}", "loop.logdir",
                        f"{str(path)!r} holds the events written before it, and the checkpoints written before are "
                        "whole: resume from the run's newest checkpoint; if it fails again, train without TensorBoard "
                        "(logdir='') and report the error")


@contextlib.contextmanager
def writing(path, where: str):
    """Around a write to ``path``: a failed write (see ``fault_of``) raises ``write_failure``; other errors pass."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        if not fault_of(e):
            raise
        raise write_failure(getattr(e, "filename", None) or path, e, where) from None


@contextlib.contextmanager
def sink_writing(sink, path, where: str, keeps=NbtrainError):
    """``writing`` for a sink that stops writing after its first failure: an error of type ``keeps`` is noted in
    ``sink.failed`` (the sink writes nothing more in this run) and raised; the files written before are whole."""
    try:
        with writing(path, where):
            yield
    except keeps as e:
        sink.failed = str(e)
        raise


def keep_first(holder, target, name: str, *a) -> None:
    """``getattr(target, name)(*a)`` unless ``holder._error`` holds an earlier failure; a failure is kept there, not
    raised: raised in tensorboardX's writer thread it would end the thread (the sink raises it from the training
    thread at its hand-overs)."""
    if holder._error is None:
        try:
            getattr(target, name)(*a)
        except Exception as e:      # noqa: BLE001 - any failure would kill the thread: kept, raised by the sink
            holder._error = e


class Kept:
    """A record writer (``write``, ``flush``, ``close``) whose first failure is kept in ``error``, not raised, and
    which writes nothing after it: for tensorboardX's writer thread, which dies at a raised error and leaves the
    training thread blocked forever in its full queue (``Queue.put``). The sink reads ``error`` at its hand-overs
    and raises ``write_failure`` from the training thread."""

    def __init__(self, inner):
        self.inner, self._error = inner, None

    @property
    def error(self) -> BaseException | None:
        return self._error

    def write(self, data) -> None:
        keep_first(self, self.inner, "write", data)

    def flush(self) -> None:
        keep_first(self, self.inner, "flush")

    def close(self) -> None:
        if self._error is None:
            return keep_first(self, self.inner, "close")
        try:
            self.inner.close()
        except Exception:               # noqa: BLE001 - the file of a failed write: its error is kept already
            pass


class Watched:
    """tensorboardX's event file writer (a queue of at most 10 events and a writer thread) made safe for the training
    thread when that thread fails for another reason than the file (an event that does not serialize, a bug, an
    error in its queue): an error of its ``write_event`` or ``flush`` is kept in ``error`` (the thread lives on and
    drops the events after it), and a thread that ended anyway is noticed: no event waits on its full queue (which
    blocked training forever), and ``close()`` writes what is left in the queue from the calling thread instead of
    waiting on the thread. The sink reads ``error`` at its hand-overs and raises it from the training thread."""

    def __init__(self, efw, poll: float = 0.25):
        self.efw, self.poll, self._error = efw, poll, None
        worker = efw._worker
        self.events, worker._record_writer = worker._record_writer, self     # the thread writes through this
        self._close = efw.close
        efw.add_event, efw.close = self.add_event, self.close

    # -- in the writer thread ---------------------------------------------------------------------
    def write_event(self, event) -> None:
        keep_first(self, self.events, "write_event", event)

    def flush(self) -> None:
        keep_first(self, self.events, "flush")

    # -- in the training thread -------------------------------------------------------------------
    def alive(self) -> bool:
        worker = self.efw._worker
        return self.efw._closed or (worker is not None and worker.is_alive())

    @property
    def error(self) -> BaseException | None:
        if self._error is None and not self.alive():
            self._error = RuntimeError("the writer thread ended (its traceback, if any, is printed above)")
        return self._error

    def add_event(self, event) -> None:
        while not self.efw._closed and self.error is None:
            try:
                return self.efw._event_queue.put(event, timeout=self.poll)
            except queue.Full:
                continue

    def close(self) -> None:
        """Close the file; with the thread gone, first write the events still in its queue, here."""
        if self.efw._closed or self.alive():
            return self._close()
        q, self.efw._closed = self.efw._event_queue, True
        while True:
            try:
                event = q.get(timeout=0.05)
            except queue.Empty:
                break
            try:
                self.events.write_event(event)
            except Exception:           # noqa: BLE001 - the same fault again: the run's error names it already
                pass
        try:
            self.events.close()
        except Exception:               # noqa: BLE001 - as above
            pass
        q.close()
