import math

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler as sch

import nbtrain as nb
from nbtrain import NbtrainError, catalog
from nbtrain.build.optim import Schedule
from nbtrain.spec import OptimSpec, ParamGroupSpec, SchedSpec, TrainSpec
from nbtrain.spec.expr import compile_expr

EPOCHS, STEPS = 6, 5

# name -> (spec params, torch scheduler made by hand from the optimizer, steps per batch?)
CASES = {
    "StepLR": ({"step_size": 2, "gamma": 0.5}, lambda o: sch.StepLR(o, 2, 0.5), False),
    "MultiStepLR": ({"milestones": [1, 4], "gamma": 0.3}, lambda o: sch.MultiStepLR(o, [1, 4], 0.3), False),
    "ExponentialLR": ({"gamma": 0.8}, lambda o: sch.ExponentialLR(o, 0.8), False),
    "LambdaLR": ({"expr": "1 / (epoch + 1)"}, lambda o: sch.LambdaLR(o, lambda e: 1 / (e + 1)), False),
    "MultiplicativeLR": ({"preset": "exp_decay_0.95"}, lambda o: sch.MultiplicativeLR(o, lambda e: 0.95 ** e), False),
    "CosineAnnealingLR": ({"eta_min": 0.001}, lambda o: sch.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=0.001), False),
    "CosineAnnealingWarmRestarts": ({"T_0": 2, "T_mult": 2},
                                    lambda o: sch.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2), False),
    "CyclicLR": ({"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 4},
                 lambda o: sch.CyclicLR(o, base_lr=0.01, max_lr=0.2, step_size_up=4), True),
    "OneCycleLR": ({"max_lr": 0.5}, lambda o: sch.OneCycleLR(o, max_lr=0.5, total_steps=EPOCHS * STEPS), True),
    "ReduceLROnPlateau": ({"patience": 1, "factor": 0.5}, lambda o: sch.ReduceLROnPlateau(o, patience=1, factor=0.5), False),
    "LinearLR": ({"start_factor": 0.25, "total_iters": 3},
                 lambda o: sch.LinearLR(o, start_factor=0.25, total_iters=3), False),
    "ConstantLR": ({"factor": 0.5, "total_iters": 2}, lambda o: sch.ConstantLR(o, factor=0.5, total_iters=2), False),
}
METRICS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9]  # stalls after epoch 1: the plateau scheduler must act


def _torch_curve(make, per_step, groups_lr=(0.1, 0.02)):
    """Step a hand-made torch scheduler in a real training loop; record each group's LR per step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": groups_lr[0]},
                           {"params": model[1].parameters(), "lr": groups_lr[1]}], lr=groups_lr[0], momentum=0.9)
    s = make(opt)
    curve = [[], []]
    for e in range(EPOCHS):
        for _ in range(STEPS):
            for g, c in zip(opt.param_groups, curve):
                c.append(g["lr"])
            opt.zero_grad()
            model(torch.randn(4, 3)).sum().backward()
            opt.step()
            if per_step:
                s.step()
        if not per_step:
            s.step(METRICS[e]) if isinstance(s, sch.ReduceLROnPlateau) else s.step()
    return curve


def test_every_catalog_scheduler_has_a_case():
    assert set(CASES) == set(catalog.SCHEDULERS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lr_curve_equals_torch(name):
    params, make, per_step = CASES[name]
    optim = OptimSpec("SGD", lr=0.1, params={"momentum": 0.9}, groups=[ParamGroupSpec("1", lr=0.02)])
    sched = SchedSpec.from_dict({"type": name, **params}, "sched")
    assert sched.per_step == per_step
    curve = nb.lr_curve(optim, sched, EPOCHS, STEPS, metrics=METRICS)
    want = _torch_curve(make, per_step)
    assert len(curve) == 2 and len(curve[0]) == EPOCHS * STEPS
    for got_g, want_g in zip(curve, want):
        assert got_g == pytest.approx(want_g, rel=1e-12, abs=1e-15)
    assert len(set(curve[0])) > 1  # every case really changes the LR


def test_warmup_is_sequential_lr():
    optim = OptimSpec("SGD", lr=0.1)
    sched = SchedSpec.from_dict({"type": "StepLR", "step_size": 1, "gamma": 0.5, "warmup": 2}, "sched")

    def make(o):
        return sch.SequentialLR(o, [sch.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=2),
                                    sch.StepLR(o, 1, 0.5)], milestones=[2])
    want = _torch_curve(make, False, groups_lr=(0.1, 0.1))[0]
    assert nb.lr_curve(optim, sched, EPOCHS, STEPS)[0] == pytest.approx(want)


def test_cosine_auto_tmax_spans_the_run_after_warmup():
    optim = OptimSpec("SGD", lr=0.1)
    sched = SchedSpec.from_dict({"type": "CosineAnnealingLR", "interval": "step", "warmup": 5}, "sched")
    curve = nb.lr_curve(optim, sched, 3, 10)[0]
    assert curve[5] == pytest.approx(0.1) and curve[-1] == pytest.approx(0.1 * (1 + math.cos(math.pi * 24 / 25)) / 2)


def test_plateau_preview_without_metrics_is_flat():
    optim = OptimSpec("SGD", lr=0.1)
    sched = SchedSpec.from_dict({"type": "ReduceLROnPlateau", "patience": 0}, "sched")
    assert set(nb.lr_curve(optim, sched, 5, 2)[0]) == {0.1}


def test_swa_switches_to_swalr():
    optim = OptimSpec("SGD", lr=0.1)
    sched = SchedSpec.from_dict({"type": "StepLR", "step_size": 1, "gamma": 0.1, "swa": True, "swa_start": 2,
                                 "swa_lr": 0.05, "swa_anneal_epochs": 1}, "sched")
    per_epoch = nb.lr_curve(optim, sched, 5, 1)[0]
    assert per_epoch == pytest.approx([0.1, 0.01, 0.001, 0.05, 0.05])


def test_constant_lr_when_no_scheduler():
    assert nb.build_scheduler(SchedSpec(), torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), 2, 3) is None
    assert set(nb.lr_curve(OptimSpec("Adam", lr=0.003), SchedSpec(), 2, 3)[0]) == {0.003}


def test_param_groups_by_layer_name_seed004():
    """Seed 004: the head at 1e-3, the rest at 1e-2."""
    spec = TrainSpec.default()
    model = nb.build_model(spec.model, (1, 28, 28))
    optim = OptimSpec("SGD", lr=1e-2, params={"momentum": 0.9}, groups=[ParamGroupSpec("9", lr=1e-3, weight_decay=1e-4)])
    opt = nb.build_optimizer(optim, model)
    g0, g1 = opt.param_groups
    assert (g0["name"], g0["lr"], g0["weight_decay"]) == ("default", 1e-2, 0)
    assert (g1["name"], g1["lr"], g1["weight_decay"]) == ("9", 1e-3, 1e-4)
    assert [p is q for p, q in zip(g1["params"], model[9].parameters())] == [True, True]
    assert sum(p.numel() for p in g0["params"]) == 52138 - 650
    assert g0["momentum"] == 0.9


def test_pattern_matching_no_layer():
    model = nb.build_model(TrainSpec.default().model, (1, 28, 28))
    with pytest.raises(NbtrainError) as e:
        nb.build_optimizer(OptimSpec("Adam", groups=[ParamGroupSpec("head*")]), model)
    assert str(e.value) == ("optim.groups[0].pattern: pattern 'head*' matches no layer "
                            "(layer names are: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)")
    with pytest.raises(NbtrainError, match="matches only layers without trainable parameters"):
        nb.build_optimizer(OptimSpec("Adam", groups=[ParamGroupSpec("1")]), model)


def test_every_optimizer_builds_and_steps():
    for name in catalog.OPTIMIZERS:
        model = nn.Linear(3, 1)
        opt = nb.build_optimizer(OptimSpec(name, lr=0.01), model)
        assert type(opt).__name__ == name
        before = model.weight.detach().clone()
        x = torch.randn(8, 3)

        def closure(opt=opt, model=model, x=x):   # LBFGS (tag closure) re-evaluates the loss within its step
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            return loss
        closure()
        opt.step(closure) if "closure" in catalog.OPTIMIZERS[name].tags else opt.step()
        assert not torch.equal(before, model.weight), name


def test_torch_rejection_is_wrapped():
    with pytest.raises(NbtrainError) as e:
        nb.build_optimizer(OptimSpec("SGD", params={"nesterov": True}), nn.Linear(2, 2))
    assert str(e.value).startswith("optim: torch.optim.SGD rejected the settings: Nesterov momentum requires")


def test_onecycle_total_steps_smaller_than_run():
    sched = SchedSpec.from_dict({"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 20}, "sched")
    with pytest.raises(NbtrainError) as e:
        nb.lr_curve(OptimSpec("SGD", lr=0.01), sched, 5, 10)
    assert str(e.value) == ("sched.total_steps: total_steps 20 is smaller than the 50 steps of the run "
                            "(epochs x steps per epoch) (set total_steps to null or to at least 50)")


def test_plateau_needs_its_metric():
    o = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    s = Schedule(SchedSpec.from_dict({"type": "ReduceLROnPlateau", "monitor": "val_acc"}), o, 2, 2)
    with pytest.raises(NbtrainError) as e:
        s.after_epoch({"loss": 1.0, "val_loss": 1.0})
    assert str(e.value) == ("sched.monitor: ReduceLROnPlateau watches 'val_acc', which this run does not log "
                            "(logged: loss, val_loss)")


def test_lambda_scheduler_state_saves_with_weights_only(tmp_path):
    o = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    s = Schedule(SchedSpec.from_dict({"type": "LambdaLR", "expr": "0.5 ** epoch"}), o, 3, 1)
    o.step()
    s.after_epoch()
    torch.save(s.state_dict(), tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    o2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    s2 = Schedule(SchedSpec.from_dict({"type": "LambdaLR", "expr": "0.5 ** epoch"}), o2, 3, 1)
    s2.load_state_dict(state)
    o.step(), o2.step()
    s.after_epoch(), s2.after_epoch()
    assert o.param_groups[0]["lr"] == o2.param_groups[0]["lr"] == 0.025


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "epoch.__class__", "open('x')",
                                  "[1, 2]", "lambda: 1", "epoch if True else 1", "'a' * 3"])
def test_expr_rejects_anything_but_arithmetic(text):
    with pytest.raises(NbtrainError, match="is not allowed in|cannot parse"):
        compile_expr(text)


def test_expr_arithmetic():
    f = compile_expr("min(1, (epoch + 1) / 5) * 0.5 ** (epoch // 10) if epoch < 100 else 0")
    assert [f(e) for e in (0, 4, 10, 100)] == [0.2, 1.0, 0.5, 0.0]
    with pytest.raises(NbtrainError, match="fails at epoch 0 or 1"):
        compile_expr("1 / epoch")


def test_specs_made_in_python_get_the_same_checks():
    """A SchedSpec built directly (not from JSON) without its required parameter: a SpecError, not a TypeError."""
    with pytest.raises(NbtrainError) as e:
        nb.lr_curve(OptimSpec("SGD"), SchedSpec("StepLR"), 2, 2)
    assert str(e.value) == "sched: StepLR needs 'step_size' (add step_size: period of LR decay)"
    with pytest.raises(NbtrainError) as e:
        nb.build_optimizer(OptimSpec("SGD", params={"momentum": "high"}), nn.Linear(2, 2))
    assert str(e.value) == "optim.momentum: expected float, got 'high'"
