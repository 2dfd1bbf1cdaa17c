"""Between the notebook (Ray's driver) and the Ray Train workers of ``fit(spec, processes=N, engine="ray")``.

- **One ``Channel`` actor** the driver owns (no shared disk, no port of nbtrain's): rank 0's ``ChannelRelay`` puts
  the event lines of nbtrain.train.relay into it; ``ChannelFollow`` on every rank takes the Stop / Pause / LR factor
  the driver's display put there (rank 0 asks, one broadcast tells the others, as ``Follow`` does); rank 0 gives the
  History back through it at the end.
- **Ray's checkpoints are nbtrain's**: at each epoch's start after the first of an attempt, every rank calls
  ``ray.train.report`` (a barrier) and rank 0 attaches the checkpoint nbtrain wrote at the previous epoch's end
  (``epoch_NNN.pt``); a restarted group resumes from it (nbtrain.train.rayworker).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .callbacks import Callback
from .relay import Follow, Relay

CKPT = "nbtrain.pt"          # the file inside each checkpoint nbtrain reports to Ray


class Channel:
    """Between the driver and rank 0 (a Ray actor of no CPU the driver creates): event lines in, controls out."""

    def __init__(self):
        self.lines: list[str] = []
        self.asked: dict = {}
        self.history: dict | None = None
        self.starts = 0

    def put(self, text: str) -> None:
        self.lines.append(text)

    def take(self) -> list[str]:
        out, self.lines = self.lines, []
        return out

    def ask(self, control: dict) -> None:
        self.asked = dict(control)

    def control(self) -> dict:
        return self.asked

    def begin(self) -> int:
        """Rank 0 starts (again): how many times it started before in this fit() (a restart: > 0)."""
        self.starts += 1
        return self.starts - 1

    def finish(self, history: dict) -> None:
        self.history = history

    def result(self) -> dict | None:
        return self.history


class _Lines:
    """A file-like end of the Channel: what Relay writes goes to the actor at each flush (one call, not waited on;
    Ray keeps one caller's calls to an actor in order)."""

    def __init__(self, channel):
        self.channel, self.buf = channel, []

    def write(self, text: str) -> None:
        self.buf.append(text)

    def flush(self) -> None:
        if self.buf:
            self.channel.put.remote("".join(self.buf))
            self.buf = []

    def close(self) -> None:
        self.flush()


class ChannelRelay(Relay):
    """Rank 0: each event as one JSON line into the Channel."""

    def __init__(self, channel):
        super().__init__(".")
        self.channel = channel
        self.file = _Lines(channel)

    def on_fit_end(self, state) -> None:
        super().on_fit_end(state)
        self.file = _Lines(self.channel)


class ChannelFollow(Follow):
    """Every rank: the driver's controls at each log point, read from the Channel by rank 0."""

    def __init__(self, channel, poll: float = 0.2):
        super().__init__(".", poll)
        self.channel = channel

    def _read(self) -> dict:
        import ray  # optional (nbtrain[ray]): only a Ray worker gets here
        return ray.get(self.channel.control.remote())


class ReportCheckpoints(Callback):
    """Every rank, at each epoch's start but the first of this attempt: ``ray.train.report`` (rank 0 with the
    checkpoint nbtrain wrote when the previous epoch ended; the checkpoint sink runs after the callbacks, so at
    ``on_epoch_end`` it is not written yet)."""

    def __init__(self):
        self.first = True

    def on_epoch_start(self, state) -> None:
        if self.first:                 # epoch 0, or the epoch a resumed attempt starts with: nothing new to report
            self.first = False
            return
        import ray.train  # optional (nbtrain[ray]): only a Ray worker gets here
        metrics = {"epoch": state.epoch, "step": state.step}
        path = Path(state.checkpoint_dir) / f"epoch_{state.epoch:03d}.pt" if state.checkpoint_dir else None
        if state.rank != 0 or path is None or not path.is_file():
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="nbtrain-ray-") as d:
            _link_or_copy(path, Path(d) / CKPT)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:                    # another file system: a copy
        shutil.copyfile(src, dst)


