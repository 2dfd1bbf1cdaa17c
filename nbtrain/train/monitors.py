"""What a run logs at each epoch end, and the check that early stopping and ReduceLROnPlateau watch one of those keys."""
from __future__ import annotations

from ..errors import NbtrainError


def monitor_keys(metric_names, has_val: bool) -> list[str]:
    """The keys a run logs at each epoch end, which early stopping and ReduceLROnPlateau may watch."""
    keys = ["loss", *metric_names]
    return keys + [f"val_{k}" for k in keys] if has_val else keys


def check_monitors(ls, p, keys: list[str]) -> None:
    """Early stopping and ReduceLROnPlateau must watch a key this run logs."""
    checks = []
    if ls.early_stopping:
        checks.append(("loop.monitor", ls.monitor, "early stopping"))
    if getattr(p.schedule, "plateau", False):
        spec = getattr(p.schedule, "spec", None)
        checks.append(("sched.monitor", spec.monitor if spec is not None else ls.monitor, "ReduceLROnPlateau"))
    for where, name, who in checks:
        if name not in keys:
            fix = "monitor one of: " + ", ".join(keys)
            if name.startswith("val_") and p.val is None:
                fix = "give validation data (val=...), or " + fix
            raise NbtrainError(f"{who} watches {name!r}, which this run does not log", where, fix)
