"""A property-based sweep of every catalog entry's parameters (issue 13): hypothesis generates values in and out of
range, of wrong types, lists of wrong lengths, nan and inf; each spec is either rejected with one NbtrainError that
names its place (the field path), or builds and takes a training step — a layer in a tiny model (forward and
backward), an optimizer one step, a scheduler a few epochs of steps, a loss a backward pass, a transform a real
image. Any other exception (torch's IndexError, ValueError, RuntimeError ...) fails the test.

Fast by construction: derandomized, a dozen examples per entry (about 20 s of CPU for all)."""
from __future__ import annotations

import math
import os
from collections import Counter

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision import tv_tensors

from nbtrain import NbtrainError, catalog
from nbtrain.build.data.pipeline import build_pipeline, check
from nbtrain.build.model import build_model
from nbtrain.build.optim import Schedule, build_optimizer
from nbtrain.build.parts import build_loss
from nbtrain.spec import LoopSpec, ModelSpec, OptimSpec, SchedSpec, TransformSpec
from nbtrain.spec.catalog import REQUIRED

# NBTRAIN_SWEEP_EXAMPLES=200 for a longer hunt; CI keeps a dozen per entry
SWEEP = settings(max_examples=int(os.environ.get("NBTRAIN_SWEEP_EXAMPLES", "12")), deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OUTCOMES: Counter = Counter()          # (table, "built" | "rejected") -> count, checked by the last test
HOSTILE = [math.nan, math.inf, -math.inf, 1e308, 10**30, -(10**20), True, False, None, "x", "", [], [1, 2, 3, 4, 5],
           [math.nan, 1.0], {"a": 1}, -1, 0, 10**6]
EXPRS = ["", "0.95 ** epoch", "max(0.1, 1 - epoch / 10)", "import os", "epoch +", "__import__('os')"]


def _ints(p, span: int = 4):
    lo = int(p.low) if p.low is not None else -2
    lo = lo + 1 if p.low_open and p.low is not None and lo == p.low else lo
    hi = int(p.high) if p.high is not None else lo + span
    return st.integers(lo, max(lo, min(hi, lo + span)))


def _floats(p):
    lo = p.low if p.low is not None else -2.0
    hi = p.high if p.high is not None else lo + 3.0
    return st.floats(lo, hi, exclude_min=p.low_open, allow_nan=False, allow_infinity=False)


def _list(elem, p, default_sizes=(1, 2, 3)):
    sizes = p.length or default_sizes
    return st.sampled_from(sizes).flatmap(lambda n: st.lists(elem, min_size=n, max_size=n))


def good(p):
    """Values of the parameter's kind, in its range (combinations may still be wrong: that is the point)."""
    k = p.kind
    if k == "int":
        return _ints(p)
    if k in ("float",):
        return _floats(p)
    if k == "bool":
        return st.booleans()
    if k == "choice":
        return st.sampled_from(list(p.choices))
    if k == "auto_int":
        return st.one_of(st.just("auto"), _ints(p))
    if k == "opt_int":
        return st.one_of(st.none(), _ints(p))
    if k == "opt_float":
        return st.one_of(st.none(), _floats(p))
    if k in ("int_or_ints", "padding"):
        extra = [st.sampled_from(["same", "valid"])] if k == "padding" else []
        return st.one_of(_ints(p, 3), _list(_ints(p, 3), p), *extra)
    if k == "ints":
        return st.lists(_ints(p, 8), max_size=4)
    if k == "floats":
        return _list(_floats(p), p).map(sorted)
    if k == "float_or_floats":
        return st.one_of(_floats(p), _list(_floats(p), p).map(sorted))
    if k in ("str", "expr"):
        return st.sampled_from(EXPRS)
    if k == "layers":
        return st.sampled_from([[], [{"type": "ReLU"}], [{"type": "Linear", "out_features": 6}, {"type": "Tanh"}],
                                [{"type": "Linear", "out_features": 2}], [{"type": "Linear"}], [{"type": "Nope"}]])
    raise AssertionError(f"no strategy for kind {k}")


def params_for(entry, data) -> dict:
    """Each parameter left out (its default), given a good value, or a hostile one."""
    out = {}
    for p in entry.params:
        how = data.draw(st.sampled_from(["good", "good", "omit", "bad"] if p.required else ["omit", "good", "bad"]))
        if how == "good":
            out[p.name] = data.draw(good(p))
        elif how == "bad":
            out[p.name] = data.draw(st.sampled_from(HOSTILE))
    return out


def _outcome(table: str, where: str, make, run) -> None:
    """``make()`` builds the spec (a rejection must name ``where``); ``run(spec)`` builds the torch object and
    takes its step (a clear error must name ``where`` too). Anything but NbtrainError propagates: a failure."""
    try:
        spec = make()
    except NbtrainError as e:
        assert str(e).startswith(where), f"{e} does not name {where}"
        OUTCOMES[table, "rejected"] += 1
        return
    try:
        run(spec)
    except NbtrainError as e:
        assert str(e).startswith(where), f"{e} does not name {where}"
        OUTCOMES[table, "rejected"] += 1
        return
    OUTCOMES[table, "built"] += 1


# -- layers and inits: a tiny model around the layer, one forward/backward and an SGD step ----------------------------
def _input_shape(name: str) -> tuple:
    if name.endswith("1d"):
        return (3, 16)
    if name.endswith("2d") or name == "Flatten":
        return (3, 12, 12)
    return (6,)


def _step(model: nn.Module, shape: tuple) -> None:
    x, y = torch.randn(4, *shape), torch.tensor([0, 1, 2, 1])
    model.train()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    params = [q for q in model.parameters() if q.requires_grad]
    if params:
        torch.optim.SGD(params, lr=0.01).step()


def _model_run(shape):
    return lambda spec: _step(build_model(spec, shape), shape)


@pytest.mark.parametrize("name", sorted(catalog.LAYERS))
@SWEEP
@given(data=st.data())
def test_every_layer(name, data):
    layer = {"type": name, **params_for(catalog.LAYERS[name], data)}
    layers = [layer, {"type": "Flatten"}, {"type": "Linear", "out_features": 3}]
    _outcome("layers", "model.layers[0]", lambda: ModelSpec.from_dict({"layers": layers}, "model"),
             _model_run(_input_shape(name)))


@pytest.mark.parametrize("name", sorted(catalog.INITS))
@SWEEP
@given(data=st.data())
def test_every_init(name, data):
    spec = {"layers": [{"type": "Linear", "out_features": 4}, {"type": "ReLU"}, {"type": "Linear", "out_features": 3}],
            "init": name, "init_params": params_for(catalog.INITS[name], data)}
    _outcome("inits", "model", lambda: ModelSpec.from_dict(spec, "model"), _model_run((6,)))


# -- optimizers: one step; schedulers: three epochs of two steps ------------------------------------------------------
def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3))


def _optim_step(spec: OptimSpec) -> None:
    model = _tiny()
    opt = build_optimizer(spec, model)
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])

    def closure():              # LBFGS (tag closure) re-evaluates the loss; the others take one step
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss
    closure()
    opt.step(closure) if "closure" in catalog.OPTIMIZERS[spec.type].tags else opt.step()


@pytest.mark.parametrize("name", sorted(catalog.OPTIMIZERS))
@SWEEP
@given(data=st.data())
def test_every_optimizer(name, data):
    lr = data.draw(st.one_of(st.floats(1e-5, 1.0), st.sampled_from(HOSTILE)))
    d = {"type": name, "lr": lr, **params_for(catalog.OPTIMIZERS[name], data)}
    _outcome("optimizers", "optim", lambda: OptimSpec.from_dict(d, "optim"), _optim_step)


def _schedule_steps(spec: SchedSpec) -> None:
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = Schedule(spec, opt, epochs=3, steps_per_epoch=2)
    for _ in range(3):
        for _ in range(2):
            opt.step()
            schedule.after_step()
        schedule.after_epoch({"val_loss": 1.0, "loss": 1.0})
    assert all(math.isfinite(g["lr"]) for g in opt.param_groups)


@pytest.mark.parametrize("name", sorted(catalog.SCHEDULERS))
@SWEEP
@given(data=st.data())
def test_every_scheduler(name, data):
    d = {"type": name, **params_for(catalog.SCHEDULERS[name], data)}
    _outcome("schedulers", "sched", lambda: SchedSpec.from_dict(d, "sched"), _schedule_steps)


# -- losses: a backward pass on outputs and targets of the loss's task ------------------------------------------------
def _loss_step(loop: LoopSpec) -> None:
    fn = build_loss(None, loop)
    tags = catalog.LOSSES[loop.loss].tags
    out = torch.randn(4, 3, requires_grad=True)
    if "classification" in tags:
        pred = out.log_softmax(1) if loop.loss == "NLLLoss" else out
        loss = fn(pred, torch.tensor([0, 1, 2, 1]))
    elif "binary" in tags:               # BCELoss (tag probs) takes probabilities, after a Sigmoid
        pred = out[:, :1].sigmoid() if "probs" in tags else out[:, :1]
        loss = fn(pred, torch.tensor([[0.0], [1.0], [1.0], [0.0]]))
    else:
        loss = fn(out[:, :1], torch.randn(4, 1))
    loss.backward()
    assert out.grad is not None


@pytest.mark.parametrize("name", sorted(catalog.LOSSES))
@SWEEP
@given(data=st.data())
def test_every_loss(name, data):
    d = {"loss": name, "metrics": [], "loss_params": params_for(catalog.LOSSES[name], data)}
    _outcome("losses", "loop", lambda: LoopSpec.from_dict(d, "loop"), _loss_step)


# -- transforms: a real 3x16x16 uint8 image through the pipeline (and ToTensor before a float-only step) --------------
def _transform_run(t: TransformSpec) -> None:
    first = [TransformSpec("ToTensor")] if t.type in ("Normalize", "RandomErasing") else []
    pipe = build_pipeline([*first, t], "train_transforms", allow_random=True)
    img = tv_tensors.Image(torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8))
    out = check(pipe, img)
    assert out.is_floating_point() and out.ndim == 3
    pipe(img)                                               # a second draw of the random ones


@pytest.mark.parametrize("name", sorted(catalog.TRANSFORMS))
@SWEEP
@given(data=st.data())
def test_every_transform(name, data):
    d = {"type": name, **params_for(catalog.TRANSFORMS[name], data)}
    _outcome("transforms", "data.train_transforms[", lambda: TransformSpec.from_dict(d, "data.train_transforms[0]"),
             _transform_run)


def test_the_sweep_builds_as_well_as_rejects():
    """Run last (file order): every table had generated specs both refused and trained; a sweep that only
    rejects would prove nothing."""
    if not OUTCOMES:
        pytest.skip("run with the sweep tests above")
    for table in ("layers", "inits", "optimizers", "schedulers", "losses", "transforms"):
        assert OUTCOMES[table, "built"] > 0 and OUTCOMES[table, "rejected"] > 0, (table, dict(OUTCOMES))


@pytest.mark.parametrize("table", [catalog.LAYERS, catalog.OPTIMIZERS, catalog.SCHEDULERS, catalog.TRANSFORMS],
                         ids=lambda t: t.kind)
def test_every_list_param_has_a_length_rule_or_is_per_channel(table):
    """A list parameter without allowed lengths is only one whose length the data decides (Normalize's per-channel
    mean/std) or any length is right (MultiStepLR's milestones)."""
    free = {(e.name, p.name) for e in table.values() for p in e.params
            if p.kind in ("floats", "int_or_ints", "padding", "float_or_floats") and not p.length}
    assert free <= {("Normalize", "mean"), ("Normalize", "std")}, free
    assert catalog.OPTIMIZERS["Adam"].param("betas").length == (2,)
    assert catalog.LAYERS["Conv1d"].param("kernel_size").length == (1,)
    assert catalog.LAYERS["Conv2d"].param("kernel_size").length == (2,)
    assert REQUIRED is catalog.LAYERS["Linear"].param("out_features").default
