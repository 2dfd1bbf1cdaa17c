"""A user's raw torch scheduler behind the same small interface as ``nbtrain.optim.Schedule``.

The loop calls ``after_step()`` after every optimizer step and ``after_epoch(logs)`` at each epoch
end; a per-step scheduler (OneCycleLR, CyclicLR, or ``interval="step"``) steps in the first,
every other one in the second, and ReduceLROnPlateau is fed the monitored metric.
"""
from __future__ import annotations

from torch.optim import lr_scheduler as sch

from .errors import NbtrainError

PER_STEP = (sch.OneCycleLR, sch.CyclicLR)


class TorchSchedule:
    def __init__(self, scheduler, interval: str = "auto", monitor: str = "val_loss"):
        self.scheduler = scheduler
        self.monitor = monitor
        self.plateau = isinstance(scheduler, sch.ReduceLROnPlateau)
        self.per_step = interval == "step" or (interval == "auto" and isinstance(scheduler, PER_STEP))

    def after_step(self) -> None:
        if self.per_step and self.scheduler is not None:
            self.scheduler.step()

    def after_epoch(self, logs: dict) -> None:
        if self.scheduler is None or self.per_step:
            return
        if self.plateau:
            if self.monitor not in logs:
                raise NbtrainError(f"ReduceLROnPlateau watches {self.monitor!r}, which this run does not log",
                                   "scheduler", "give validation data or monitor one of: " + ", ".join(sorted(logs)))
            self.scheduler.step(logs[self.monitor])
        else:
            self.scheduler.step()

    def swa_active(self, epoch: int) -> bool:
        return False

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, d: dict) -> None:
        if self.scheduler is not None and d:
            self.scheduler.load_state_dict(d)
