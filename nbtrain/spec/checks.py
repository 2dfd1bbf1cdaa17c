"""Number checks every spec field and every catalog parameter goes through, so a value that would only fail
later inside torch (inf, nan, an int64 overflow, a float32 overflow) is refused with its field path.

Bounds, and why:
- floats are finite and at most FLOAT_MAX in size: torch computes in float32, where 1e39 is already inf
  (1e308 or JSON's 1e999, which Python reads as inf, would turn the weights into inf on the first step);
  and 0 or at least FLOAT_TINY: a smaller one is 0 in float32 (an eps of 1e-50 divides by zero, a LinearLR
  start_factor of 5e-324 makes the LR nan);
- ints fit in int64 (torch's index type); JSON integer literals are bounded earlier (nbtrain.spec.jsonread);
- a learning rate is at most LR_MAX: every torch.optim optimizer diverges on the first step far below it,
  so a larger one is a typo (1e2 for 1e-2), not a choice.
"""
from __future__ import annotations

import math

from ..errors import SpecError

FLOAT_MAX = float.fromhex("0x1.fffffep+127")    # torch.finfo(torch.float32).max, about 3.4e38
FLOAT_TINY = float.fromhex("0x1p-126")          # torch.finfo(torch.float32).tiny, about 1.2e-38
INT_MAX = 2**63 - 1
LR_MAX = 1000.0


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _digits(v: int) -> str:
    """An int as shown in a message: itself up to 30 digits, else 'an integer of about N digits' (without
    str(v), which Python refuses beyond 4300 digits)."""
    if abs(v) < 10**30:
        return str(v)
    return f"an integer of about {int(abs(v).bit_length() * math.log10(2)) + 1} digits"


def check_int(v: int, where: str) -> int:
    if not -INT_MAX <= v <= INT_MAX:
        raise SpecError(f"must fit in int64, got {_digits(v)}", where, f"give a value between {-INT_MAX} and {INT_MAX}")
    return v


def check_finite(v, where: str) -> float:
    """``float(v)``, refused when it is nan, inf, or beyond float32's range."""
    try:
        x = float(v)
    except OverflowError:
        x = math.inf if v > 0 else -math.inf
    if math.isnan(x):
        raise SpecError("expected a number, got nan", where, "give a finite number")
    if math.isinf(x) and not is_int(v):
        raise SpecError(f"expected a finite number, got {x:g}", where, "give a finite number; JSON's 1e999 reads as inf")
    if not abs(x) <= FLOAT_MAX:
        shown = _digits(v) if is_int(v) else f"{x:g}"
        raise SpecError(f"must be at most {FLOAT_MAX:.3g} in size (float32's largest; torch computes in float32), "
                        f"got {shown}", where)
    if 0 < abs(x) < FLOAT_TINY:
        raise SpecError(f"must be 0 or at least {FLOAT_TINY:.3g} in size (smaller numbers are 0 in float32), "
                        f"got {x:g}", where)
    return x


def check_lr(lr: float | None, where: str) -> None:
    """A learning rate: > 0 and at most LR_MAX (see the module docstring)."""
    if lr is None:
        return
    if is_num(lr) and LR_MAX < lr < math.inf:
        raise SpecError(f"must be <= {LR_MAX:g}, got {_digits(lr) if is_int(lr) else f'{lr:g}'}", where,
                        "every optimizer diverges at such a learning rate; typical values are 1e-4 to 1")
    if check_finite(lr, where) <= 0:
        raise SpecError(f"must be > 0, got {lr:g}", where, "set lr to a value > 0, e.g. 1e-3")
