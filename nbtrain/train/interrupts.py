"""Ctrl-C and the kernel's interrupt while fit() runs in the main thread: taken at the next batch boundary.

A signal is handled when the C++ call in progress returns, so a raw KeyboardInterrupt usually lands right after
``optimizer.step()``, before the step counter, the BatchNorm statistics' bookkeeping and the logs have caught up:
a checkpoint written then is one step off. While ``Interrupts`` is active the first SIGINT only marks the run; the
loop raises KeyboardInterrupt itself at the next batch boundary (``check()``), where everything agrees. A second
SIGINT says that the run is stopping and saving; a third aborts at once (``Abort``): the save in progress is
dropped (atomic writes leave the old file whole) and nothing more is written.
"""
from __future__ import annotations

import signal
import sys
import threading


class Abort(KeyboardInterrupt):
    """A third interrupt: stop at once, write nothing more."""


class Interrupts:
    """A context manager installing the deferring SIGINT handler (in the main thread only; elsewhere a no-op)."""

    def __init__(self, out=None):
        self.count = 0
        self.raised = False
        self.out = out
        self._old = None

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count >= 3:
            raise Abort()
        if self.count == 2:
            print("nbtrain: stopping and saving the checkpoint; interrupt once more to abort without it",
                  file=self.out or sys.stderr, flush=True)

    def check(self) -> None:
        """At a batch boundary: raise KeyboardInterrupt if an interrupt came since (once)."""
        if self.count and not self.raised:
            self.raised = True
            raise KeyboardInterrupt()
