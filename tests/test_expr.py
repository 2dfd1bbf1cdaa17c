"""nbtrain.spec.expr: LambdaLR / MultiplicativeLR factors parsed once, evaluated in floats, checked over the run."""

import pytest
import torch

from nbtrain.build.optim import Schedule, lr_curve
from nbtrain.errors import NbtrainError
from nbtrain.spec import OptimSpec, ParamGroupSpec, SchedSpec, TrainSpec
from nbtrain.spec.expr import factors, parse

FIX = ("a factor must be a finite number > 0 at every epoch that trains (0 to 4) and defined at 5; "
       "e.g. clamp it with max(0.01, ...)")


def _curve(expr, epochs=5, groups=(), kind="LambdaLR"):
    optim = OptimSpec("SGD", lr=0.1, groups=[ParamGroupSpec(g) for g in groups])
    return lr_curve(optim, SchedSpec(kind, params={"expr": expr}), epochs, 1)


def test_huge_powers_are_refused_at_once():
    with pytest.raises(NbtrainError) as e:     # a power computed would take hours: the suite's timeout catches it
        _curve("((9**999)**999)**999")
    assert str(e.value) == f"sched.expr: '((9**999)**999)**999' overflows (too large for a float) at epoch 0 ({FIX})"


def test_a_huge_literal_is_refused_by_the_spec():
    with pytest.raises(NbtrainError, match=r"^sched\.expr: the number 1000000000\d+\.\.\. \(too large\) is not "):
        TrainSpec.from_dict({"sched": {"type": "LambdaLR", "expr": "1" + "0" * 400}})


@pytest.mark.parametrize("expr, what", [
    ("1 / (epoch - 2) ** 2", "'1 / (epoch - 2) ** 2' divides by zero at epoch 2"),
    ("-1.0", "'-1.0' is -1 at epoch 0"),
    ("1 - epoch / 4", "'1 - epoch / 4' is 0 at epoch 4"),
    ("log(3 - epoch) + 1", "'log(3 - epoch) + 1' fails at epoch 3: math domain error"),
    ("(epoch - 4) ** 0.5 + 1", "'(epoch - 4) ** 0.5 + 1' fails at epoch 0: not a real number"),
])
def test_a_bad_factor_at_some_epoch_names_it_before_training(expr, what):
    with pytest.raises(NbtrainError) as e:
        _curve(expr)
    assert str(e.value) == f"sched.expr: {what} ({FIX})"


def test_a_linear_decay_may_reach_zero_after_the_last_epoch():
    assert _curve("1 - epoch / 5")[0] == pytest.approx([0.1, 0.08, 0.06, 0.04, 0.02])
    with pytest.raises(NbtrainError, match=r"^sched\.expr: '1 / \(5 - epoch\)' divides by zero at epoch 5 \("):
        _curve("1 / (5 - epoch)")


def test_multiplicative_factor_is_not_checked_at_epoch_0_which_torch_never_asks():
    c = _curve("1 / epoch", epochs=3, kind="MultiplicativeLR")[0]
    assert c == pytest.approx([0.1, 0.1, 0.05])


def test_one_expression_per_param_group():
    c = _curve(["0.5 ** epoch", "1 / (epoch + 1)"], epochs=3, groups=["x"])
    assert c[0] == pytest.approx([0.1, 0.05, 0.025]) and c[1] == pytest.approx([0.1, 0.05, 0.1 / 3])
    with pytest.raises(NbtrainError) as e:
        _curve(["0.5 ** epoch"] * 3, groups=["x"])
    assert str(e.value) == ("sched.expr: 3 expressions for 2 param groups (give one expression, or a list of 2 "
                            "(one per group, 'default' first))")
    with pytest.raises(NbtrainError, match=r"^sched\.expr\[1\]: '0 - epoch' is 0 at epoch 0"):
        _curve(["0.5 ** epoch", "0 - epoch"], groups=["x"])


def test_the_spec_rejects_what_is_not_an_expression():
    with pytest.raises(NbtrainError, match=r"^sched\.expr\[1\]: name 'os' is not allowed in 'os'"):
        TrainSpec.from_dict({"sched": {"type": "LambdaLR", "expr": ["epoch", "os"]}})
    with pytest.raises(NbtrainError, match=r"^sched\.expr: expected str or list of str, got int"):
        TrainSpec.from_dict({"sched": {"type": "LambdaLR", "expr": 3}})


def test_canonical_code_is_the_checked_tree_and_computes_the_same():
    e = parse("0.5**(epoch//3) if epoch<10 else min(1, 2e-1)")
    assert e.code == "0.5 ** (epoch // 3.0) if epoch < 10.0 else min(1.0, 0.2)"
    scope = {"min": min}
    for k in range(12):
        assert eval(f"float({e.code})", scope, {"epoch": float(k)}) == e(k)  # the test may eval; nbtrain never does


def test_the_scheduler_state_dict_saves_no_code():
    p = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.SGD([p], lr=0.1)
    s = Schedule(SchedSpec("LambdaLR", params={"expr": "0.5 ** epoch"}), o, 3, 1)
    assert s.state_dict()["scheduler"]["lr_lambdas"] == [None]


def test_factors_are_plain_numbers():
    (f,) = factors({"expr": "epoch // 2 + 1"}, "sched", 1, 4)
    assert [f(k) for k in range(5)] == [1.0, 1.0, 2.0, 2.0, 3.0]


def test_a_long_per_step_run_is_checked_at_every_step():
    """Blocks of steps at once in numpy, then step by step where numpy flags: the first bad one is named exactly,
    and what numpy alone would refuse (an overflowing product, a branch not taken) is decided by the scalars."""
    bad = r"^sched\.expr: 'min\(1, 1 / \(epoch - 9999\) \*\* 2\)' divides by zero at step 9999"
    with pytest.raises(NbtrainError, match=bad):
        factors({"expr": "min(1, 1 / (epoch - 9999) ** 2)"}, "sched", 1, 10000, unit="step")
    (f,) = factors({"expr": "0.5 if 1e300 * 1e300 > epoch else 1 / (epoch - 5)"}, "sched", 1, 10000)
    assert f(5) == 0.5
