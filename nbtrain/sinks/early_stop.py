"""Early stopping: stop when the monitored metric has not improved for ``patience`` epochs."""
from __future__ import annotations

import copy

from ..spec.catalog import monitor_mode
from ..train.callbacks import Callback
from ..train.plain import EarlyStop


class EarlyStopping(EarlyStop, Callback):
    """Watches ``monitor`` at each epoch end; restores the best weights at the end when ``restore_best``. The rule is
    nbtrain.train.plain.EarlyStop, which an exported script runs too.

    Its ``best`` is the last value that improved by more than ``min_delta`` (what patience counts from), not the
    record's best epoch (``state.history.best()``), which counts any improvement. ``mode="auto"`` is the metric's
    catalog direction (``val_accuracy``: higher is better), as for the record's best."""
    state_key = "early_stopping"

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 3, min_delta: float = 0.0,
                 restore_best: bool = True):
        super().__init__(monitor, monitor_mode(monitor, mode), patience, min_delta, restore_best)

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.should_stop(logs, state.model, logs.get("epoch", state.epoch + 1)):
            state.request_stop(self.reason())

    def on_fit_end(self, state) -> None:
        if self.restore_best and self.best_weights is not None and state.stop_reason.startswith("early stopping"):
            state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": copy.copy(self.best_weights)}

    def load_state_dict(self, d: dict) -> None:
        self.best, self.best_epoch, self.wait = d["best"], d["best_epoch"], d["wait"]
        self.best_weights = d.get("best_weights")
