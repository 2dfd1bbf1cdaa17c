"""Between the notebook (Ray's driver) and the Ray Train workers of ``fit(spec, ray=dict(num_workers=N))``: one
``Channel`` actor the driver owns (no shared disk, no port of nbtrain's). Rank 0's ``ChannelRelay`` puts the event
lines of nbtrain.train.relay into it; ``ChannelFollow`` on every rank takes the Stop / Pause / LR factor the driver's
display put there (rank 0 asks, one broadcast tells the others, as ``Follow`` does); rank 0 gives the History back
through it at the end (both callbacks: nbtrain.train.rayworker).

This module imports nothing but the standard library: the actor's process loads it, and torch (seconds of CPU) would
be loaded there for nothing, beside the workers' own imports, while the run starts.
"""
from __future__ import annotations


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
