"""Number checks every spec field and every catalog parameter goes through, so a value that would only fail
later inside torch (inf, nan, an int64 overflow, a float32 overflow) is refused with its field path.

Bounds, and why:
- floats are finite and at most FLOAT_MAX in size: torch computes in float32, where 1e39 is already inf
  (1e308 or JSON's 1e999, which Python reads as inf, would turn the weights into inf on the first step);
- ints fit in int64 (torch's index type); JSON integer literals are bounded earlier (nbtrain.jsonread);
- a learning rate is at most LR_MAX: every torch.optim optimizer diverges on the first step far below it,
  so a larger one is a typo (1e2 for 1e-2), not a choice.
"""
from __future__ import annotations

import math

from .errors import SpecError

FLOAT_MAX = float.fromhex("0x1.fffffep+127")    # torch.finfo(torch.float32).max, about 3.4e38
INT_MAX = 2**63 - 1
LR_MAX = 1000.0


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_int(v: int, where: str) -> int:
    if not -INT_MAX <= v <= INT_MAX:
        raise SpecError(f"{len(str(abs(v)))}-digit integer does not fit in int64", where,
                        f"give a value between {-INT_MAX} and {INT_MAX}")
    return v


def check_finite(v, where: str) -> float:
    """``float(v)``, refused when it is nan, inf, or beyond float32's range."""
    try:
        x = float(v)
    except OverflowError:
        x = math.inf if v > 0 else -math.inf
    if math.isnan(x):
        raise SpecError("expected a number, got nan", where, "give a finite number")
    if not abs(x) <= FLOAT_MAX:
        shown = f"a {len(str(abs(v)))}-digit integer" if is_int(v) else f"{x:g}"
        raise SpecError(f"expected a finite number of at most {FLOAT_MAX:.3g} in size (float32), got {shown}", where,
                        "give a finite number; 1e999 in JSON reads as inf")
    return x


def check_lr(lr: float | None, where: str) -> None:
    """A learning rate: > 0 and at most LR_MAX (see the module docstring)."""
    if lr is None:
        return
    lr = check_finite(lr, where)
    if lr <= 0:
        raise SpecError(f"must be > 0, got {lr:g}", where, "set lr to a value > 0, e.g. 1e-3")
    if lr > LR_MAX:
        raise SpecError(f"must be <= {LR_MAX:g}, got {lr:g}", where,
                        "every optimizer diverges at such a learning rate; typical values are 1e-4 to 1")
