"""History: what a run logged, as plain dicts (the first sink; ``fit`` returns it)."""
from __future__ import annotations

import copy

from .callbacks import Callback


class History(Callback):
    """Per-epoch logs (``.epochs``) and per-log-point logs (``.steps``); ``h["val_loss"]`` is a list per epoch.

    Epoch dicts hold ``epoch`` (1-based), ``step``, the train metrics (``loss``, ``accuracy``...), the
    validation ones with a ``val_`` prefix and ``lr`` (``lr_1``... for further param groups).
    """

    def __init__(self, epochs=None, steps=None, stop_reason: str = ""):
        self.epochs: list[dict] = list(epochs or [])
        self.steps: list[dict] = list(steps or [])
        self.stop_reason = stop_reason
        self.status = ""                # finished, stopped, interrupted, nan or error (set when the run ends)
        self.run_name = ""              # the run's folder name under logdir and checkpoint_dir
        self.interrupted = False
        self.final: dict = {}           # metrics of the final model when it differs from the last epoch's (SWA)

    # -- as a sink ------------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        self.run_name = state.run_name

    def on_log(self, state, logs: dict) -> None:
        self.steps.append(dict(logs))

    def on_epoch_end(self, state, logs: dict) -> None:
        self.epochs.append(dict(logs))

    def on_interrupt(self, state, exc: BaseException) -> None:
        self.interrupted = isinstance(exc, KeyboardInterrupt)
        self.status = "interrupted" if self.interrupted else "error"

    def on_fit_end(self, state) -> None:
        self.stop_reason = state.stop_reason
        if not self.status:
            self.status = ("nan" if state.nonfinite_step is not None else
                           "stopped" if state.should_stop else "finished")

    # -- reading --------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> list:
        if not any(key in e for e in self.epochs):
            known = sorted({k for e in self.epochs for k in e})
            raise KeyError(f"{key!r} is not in the history (logged: {', '.join(known) or 'nothing yet'})")
        return [e.get(key) for e in self.epochs]

    def __contains__(self, key: str) -> bool:
        return any(key in e for e in self.epochs)

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        return sorted({k for e in self.epochs for k in e})

    def last(self, key: str, default=None):
        return next((e[key] for e in reversed(self.epochs) if key in e), default)

    def to_dict(self) -> dict:
        return {"epochs": copy.deepcopy(self.epochs), "steps": copy.deepcopy(self.steps),
                "stop_reason": self.stop_reason, "status": self.status, "final": dict(self.final)}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        h = cls(d.get("epochs", []), d.get("steps", []), d.get("stop_reason", ""))
        h.final, h.status = dict(d.get("final", {})), d.get("status", "")
        return h

    def load_state_dict(self, d: dict) -> None:
        self.epochs, self.steps = list(d.get("epochs", [])), list(d.get("steps", []))
        self.stop_reason = d.get("stop_reason", "")
        self.final = dict(d.get("final", {}))

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        return f"History({len(self.epochs)} epochs{': ' + shown if shown else ''})"
