"""Ctrl-C, the kernel's interrupt, SIGTERM and SIGHUP while fit() runs in the main thread: taken at the next boundary.

A signal is handled when the C++ call in progress returns, so a raw KeyboardInterrupt usually lands right after
``optimizer.step()``, before the step counter, the BatchNorm statistics' bookkeeping and the logs have caught up:
a checkpoint written then is one step off. While ``Interrupts`` is active the first signal (SIGINT: Ctrl-C and the
kernel's stop; SIGTERM: a scheduler's kill, a preempted node; SIGHUP: a closed terminal) only marks the run; the loop
raises ``Interrupted`` itself at the next boundary (``check()``), where everything agrees: between training batches,
between validation batches (the last epoch's included), between the batches of SWA's ``update_bn`` and of SWA's
validation (``watch()``), and after the last epoch. A second signal says that the run is stopping and saving; a third
aborts at once (``Abort``): the save in progress is dropped (atomic writes leave the old file whole) and nothing more
is written but the end of the run record (``on_abort``: status "interrupted", stop reason "aborted (SIGINT) at epoch
2, batch 5 of 12: the epoch in progress was not saved"); the last completed epoch's ``epoch_NNN.pt`` stays. A run
that had trained every epoch when aborted (a third press while its end was saved) keeps its record's "finished".
"""
from __future__ import annotations

import os
import signal
import sys
import threading

import torch.distributed as td

SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Abort(KeyboardInterrupt):
    """A third interrupt: stop at once, write nothing more (but the record's end); ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.run_name, self.checkpoint_dir = "", None   # the aborted run's (set by end_aborted)


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal, at a boundary; ``signum`` says which, ``str()`` where."""

    def __init__(self, signum: int, where: str):
        super().__init__(f"interrupted ({signal.Signals(signum).name}) {where}".strip())
        self.signum = signum


def exit_status(signum: int) -> int:
    """The shell's status for a process ended by ``signum``: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + int(signum)


class Interrupts:
    """A context manager installing the deferring handlers (in the main thread only; elsewhere a no-op).

    Under DDP every rank of a Ctrl-C in a terminal gets it, each at its own moment: a rank that stopped at its own
    next batch would meet the others in a different collective (gloo: "Received data size doesn't match expected
    size"). So there (``agree``) a signal is a stop request the ranks agree on at the next log point (the loop's
    ``_stop_everywhere``, as for the Stop button: one step, every rank's sums in the checkpoint), then the run ends
    as interrupted. SIGTERM under torchrun's agent ends the worker at once (``ended_by_agent``).

    ``where`` is a function giving the loop's position (epoch, batch, phase) for the message."""

    def __init__(self, out=None, where=lambda: ""):
        self.count = 0
        self.raised = False
        self.signum = signal.SIGINT
        self.out, self.where = out, where
        self.phase = "training"
        self.holding = False          # while an aborted run's record is ended: further signals wait
        self._old: dict = {}

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}

    def _handle(self, signum, frame) -> None:
        if self.holding:
            return
        if signum == getattr(signal, "SIGTERM", None) and ended_by_agent():
            leave_round(signum)
        self.count += 1
        if self.count == 1:
            self.signum = signum
        if self.count >= 3:
            raise Abort(signum)
        if self.count == 2 and os.environ.get("RANK", "0") == "0":
            print("nbtrain: stopping and saving the checkpoint; interrupt once more to abort without it",
                  file=self.out or sys.stderr, flush=True)

    @property
    def agree(self) -> bool:
        """Under DDP (a process group of more than this process) no rank stops alone: the loop agrees on the stop."""
        return td.is_available() and td.is_initialized() and td.get_world_size() > 1

    def pending(self) -> str:
        """The stop reason of a signal not yet taken ("" when none came)."""
        return f"interrupted ({signal.Signals(self.signum).name}) {self.where()}".strip() \
            if self.count and not self.raised else ""

    def check(self, final: bool = False) -> None:
        """At a boundary: raise Interrupted if a signal came since (once). Under DDP (``agree``) only at the
        ``final`` one, after the ranks stopped together: one rank alone would leave the others in a collective."""
        if self.count and not self.raised and (final or not self.agree):
            self.raised = True
            raise Interrupted(self.signum, self.where())

    def watch(self, batches, phase: str):
        """``batches`` with a boundary before each one (and after the last), under ``phase`` for the message."""
        self.phase = phase
        try:
            for b in batches:
                self.check()
                yield b
            self.check()
        finally:
            self.phase = "training"


    def end_aborted(self, state, cbs, exc: Abort) -> None:
        """After an abort: the stop reason says where and what was not saved, and ``on_abort`` lets the record end
        (a small write; signals meanwhile are ignored, the next ones end the process as usual)."""
        where = position(state, self.phase)
        lost = ": the epoch in progress was not saved" if state.mid_epoch or self.phase != "training" else \
            ", while the run's end was saved"
        state.stop_reason = f"aborted ({signal.Signals(exc.signum).name}) {where}{lost}"
        exc.run_name, exc.checkpoint_dir = state.run_name, state.checkpoint_dir   # for the CLI's resume line
        self.holding = True
        try:
            cbs.on_abort(state)
        finally:
            self.holding = False


def ended_by_agent() -> bool:
    """Under torchrun's agent with other workers, SIGTERM is the agent ending this round (a worker failed, or the
    agent itself was told to stop): it kills whoever is left 30 s later and restarts (--max-restarts) or gives up.
    Nothing can be saved that the ranks agree on (a mid-epoch checkpoint needs every rank's sums, one collective,
    and a peer may be dead), so the worker leaves at once; --resume auto goes on from the last agreed checkpoint."""
    return bool(os.environ.get("TORCHELASTIC_RUN_ID")) and int(os.environ.get("WORLD_SIZE", "1")) > 1


def leave_round(signum: int) -> None:
    """End this worker now, quietly but for one line on rank 0; atomic writes leave every checkpoint whole."""
    try:
        if os.environ.get("RANK", "0") == "0":
            print(f"nbtrain: stopped by torchrun ({signal.Signals(signum).name}): this round's workers end; "
                  "--resume auto goes on from the last checkpoint", file=sys.stderr, flush=True)
        sys.stdout.flush()
    except (OSError, RuntimeError, ValueError):    # a print interrupted mid-write (reentrant), a closed stream
        pass
    os._exit(exit_status(signum))


def position(state, phase: str) -> str:
    """Where the loop is, for the stop reason: ``at epoch 2, batch 14 of 24`` or ``at epoch 3, in validation``."""
    if state is None:
        return ""
    where = f"at epoch {state.epoch + 1}"
    if phase != "training":
        return f"{where}, in {phase}"
    if state.mid_epoch:
        return f"{where}, batch {state.batches_done} of {state.steps_per_epoch}"
    return f"after epoch {state.epochs_done}" if state.epochs_done else "before the first batch"


def signal_of(stop_reason: str) -> int:
    """The signal an ``Interrupted`` stop reason names (SIGINT when it names none: the kernel's KeyboardInterrupt)."""
    for s in SIGNALS:
        if f"({signal.Signals(s).name})" in (stop_reason or ""):
            return int(s)
    return int(signal.SIGINT)
