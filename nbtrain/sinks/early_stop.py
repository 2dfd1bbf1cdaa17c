"""Early stopping: stop when the monitored metric has not improved for ``patience`` epochs."""
from __future__ import annotations

import copy

from ..train.callbacks import Callback
from ..train.history import improved


class EarlyStopping(Callback):
    """Watches ``monitor`` at each epoch end; restores the best weights at the end when ``restore_best``.

    Its ``best`` is the last value that improved by more than ``min_delta`` (what patience counts from), not the
    record's best epoch (``state.history.best()``), which counts any improvement."""
    state_key = "early_stopping"

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 3, min_delta: float = 0.0,
                 restore_best: bool = True):
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.min_delta, self.restore_best = min_delta, restore_best
        self.best, self.best_epoch, self.wait = None, 0, 0
        self.best_weights = None

    def on_epoch_end(self, state, logs: dict) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, logs.get("epoch", state.epoch + 1), 0
            if self.restore_best:
                self.best_weights = {k: v.detach().cpu().clone() for k, v in state.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.request_stop(f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                               f"(best {self.best:.4g} at epoch {self.best_epoch})")

    def on_fit_end(self, state) -> None:
        if self.restore_best and self.best_weights is not None and state.stop_reason.startswith("early stopping"):
            state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": copy.copy(self.best_weights)}

    def load_state_dict(self, d: dict) -> None:
        self.best, self.best_epoch, self.wait = d["best"], d["best_epoch"], d["wait"]
        self.best_weights = d.get("best_weights")
