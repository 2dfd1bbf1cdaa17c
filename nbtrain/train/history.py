"""History: what a run logged, as plain dicts (the first sink; ``fit`` returns it)."""
from __future__ import annotations

import copy
import json

from .callbacks import Callback
from .valstats import per_class

KEEP_EVERY_MATRIX = 100     # classes up to which every epoch's confusion matrix is kept (beyond: the latest only)


class History(Callback):
    """Per-epoch logs (``.epochs``) and per-log-point logs (``.steps``); ``h["val_loss"]`` is a list per epoch.

    Epoch dicts hold ``epoch`` (1-based), ``step``, the train metrics (``loss``, ``accuracy``...), the
    validation ones with a ``val_`` prefix and ``lr`` (``lr_1``... for further param groups).

    What validation saw, filled at each validation's end (before ``on_epoch_end``), for classification:
    ``confusion`` (one K x K matrix per epoch, rows true class, columns predicted; with more than 100 classes the
    latest only), ``per_class`` (per epoch: ``{"precision", "recall", "f1": [K floats], "support": [K ints]}``),
    ``top_losses`` (the latest validation's worst samples, worst first: ``{"index", "loss", "true", "pred"}``;
    ``index`` into the validation set) and ``class_names`` (None when the data has none); for regression
    ``residuals`` (``{"true": [...], "pred": [...]}``, the latest validation, at most 2000 points).
    """

    def __init__(self, epochs=None, steps=None, stop_reason: str = ""):
        self.epochs: list[dict] = list(epochs or [])
        self.steps: list[dict] = list(steps or [])
        self.stop_reason = stop_reason
        self.status = ""                # finished, stopped, interrupted, nan or error (set when the run ends)
        self.run_name = ""              # the run's folder name under logdir and checkpoint_dir
        self.interrupted = False
        self.final: dict = {}           # metrics of the final model when it differs from the last epoch's (SWA)
        self.confusion: list = []
        self.per_class: list = []
        self.top_losses: list = []
        self.class_names: list | None = None
        self.residuals: dict | None = None
        self.val_loader = None          # the run's validation loader (nb.top_losses draws the samples from it)

    # -- as a sink ------------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        self.run_name = state.run_name
        self.val_loader = state.val_loader

    def record_validation(self, collected: dict) -> None:
        """Keep what a validation collected on the device (nbtrain.train.valstats.ValStats.read)."""
        if "confusion" in collected:
            cm = collected["confusion"]
            self.confusion = (self.confusion if len(cm) <= KEEP_EVERY_MATRIX else []) + [cm]
            self.per_class.append(per_class(cm))
            self.top_losses = list(collected.get("top_losses", []))
            self.class_names = collected.get("class_names") or self.class_names
        if "residuals" in collected:
            self.residuals = collected["residuals"]

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

    def confused_pairs(self, k: int = 5, names: bool = False) -> list[tuple]:
        """The ``k`` most frequent mistakes of the latest validation, most first: ``[(true, pred, count), ...]``
        (class indices, or class names with ``names=True`` when the data has them)."""
        if not self.confusion:
            return []
        cm = self.confusion[-1]
        pairs = sorted(((cm[t][p], t, p) for t in range(len(cm)) for p in range(len(cm)) if t != p and cm[t][p]),
                       key=lambda c: (-c[0], c[1], c[2]))[:k]
        label = (lambda i: self.class_names[i]) if names and self.class_names else (lambda i: i)
        return [(label(t), label(p), n) for n, t, p in pairs]

    def insight_dict(self, copies: bool = True) -> dict:
        """The validation insight fields as plain JSON-safe data (what to_dict adds to the logs); ``copies=False``
        hands out the History's own lists, for a caller that only encodes them at once."""
        d = {"confusion": self.confusion, "per_class": self.per_class, "top_losses": self.top_losses,
             "class_names": self.class_names, "residuals": self.residuals}
        return copy.deepcopy(d) if copies else d

    def _load_insight(self, d: dict) -> None:
        self.confusion, self.per_class = list(d.get("confusion") or []), list(d.get("per_class") or [])
        self.top_losses, self.class_names = list(d.get("top_losses") or []), d.get("class_names")
        self.residuals = d.get("residuals")

    def to_dict(self, copies: bool = True) -> dict:
        d = {"epochs": self.epochs, "steps": self.steps, "stop_reason": self.stop_reason, "status": self.status,
             "final": self.final, **self.insight_dict(copies=False)}
        return copy.deepcopy(d) if copies else d

    def state_dict(self):
        """What a checkpoint stores: ``to_dict()`` as JSON text, which torch.save writes as one string (pickling the
        rows object by object, and copying them first, cost 10-20x more and grew with the run); the dict itself
        when a user's callback logged a value JSON cannot hold."""
        d = self.to_dict(copies=False)
        try:
            return json.dumps(d)
        except (TypeError, ValueError):
            return copy.deepcopy(d)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        h = cls(d.get("epochs", []), d.get("steps", []), d.get("stop_reason", ""))
        h.final, h.status = dict(d.get("final", {})), d.get("status", "")
        h._load_insight(d)
        return h

    def load_state_dict(self, d) -> None:
        d = json.loads(d) if isinstance(d, str) else d
        self.epochs, self.steps = list(d.get("epochs", [])), list(d.get("steps", []))
        self.stop_reason = d.get("stop_reason", "")
        self.final = dict(d.get("final", {}))
        self._load_insight(d)

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        return f"History({len(self.epochs)} epochs{': ' + shown if shown else ''})"
