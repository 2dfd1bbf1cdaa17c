"""nbtrain.train.plain, the loop an exported script runs, tested as code: run in process on the parts fit() builds,
it gives fit()'s numbers (it trains with fit()'s own step functions and Schedule's stepping)."""
import ast
import inspect

import pytest
import torch

from nbtrain.build import plainsched
from nbtrain.build.data import build_data
from nbtrain.build.model import build_model
from nbtrain.build.optim import Schedule, build_optimizer
from nbtrain.spec import DataSpec, LayerSpec, ModelSpec, OptimSpec, SchedSpec, TrainSpec
from nbtrain.spec.catalog import monitor_mode
from nbtrain.train import plain
from nbtrain.train.callbacks import Callback
from nbtrain.train.metrics import metric_fns
from nbtrain.train.rng import seed_everything


def _spec(**loop) -> TrainSpec:
    layers = [LayerSpec("Linear", params={"out_features": 16}), LayerSpec("BatchNorm1d"), LayerSpec("ReLU"),
              LayerSpec("Dropout", params={"p": 0.2}), LayerSpec("Linear", params={"out_features": 3})]
    spec = TrainSpec(data=DataSpec(dataset="iris", batch_size=16), model=ModelSpec(layers=layers),
                     optim=OptimSpec("SGD", lr=0.05, params={"momentum": 0.9}))
    spec.loop.logdir, spec.loop.checkpoint_dir, spec.loop.epochs = "", "", 4
    for k, v in loop.items():
        setattr(spec.loop, k, v)
    return spec


def _plain_run(spec: TrainSpec):
    """What an exported script does, in process: the parts built as fit() builds them, then plain.train."""
    ls = spec.loop
    seed_everything(ls.seed)
    data = build_data(spec.data, loss=ls.loss)
    model = build_model(spec.model, data.input_shape)
    optimizer = build_optimizer(spec.optim, model)
    stepper = Schedule(spec.sched, optimizer, ls.epochs, len(data.train))
    loss_fn = getattr(torch.nn, ls.loss)()
    mode = monitor_mode(ls.monitor, ls.mode)              # what to_code writes as MODE
    early = plain.EarlyStop(ls.monitor, mode, ls.early_stopping, ls.min_delta, ls.restore_best) \
        if ls.early_stopping else None
    swa = torch.optim.swa_utils.AveragedModel(model) if spec.sched.swa else None
    history, final = plain.train(model, data.train, data.val, optimizer, loss_fn, stepper, torch.device("cpu"),
                                 ls.epochs, plain.metric_sums(metric_fns(ls.metrics, ls.topk)), amp=ls.amp,
                                 grad_clip=ls.grad_clip, early_stop=early, swa_model=swa)
    return model, history, final


def _fit(spec, callbacks=()):
    from nbtrain.train.loop import fit
    return fit(spec, callbacks=callbacks, dashboard=False, progress=False, doctor=False)


def _same(history, hist, keys=("loss", "accuracy", "lr", "val_loss", "val_accuracy")):
    assert len(history) == len(hist.epochs)
    for got, want in zip(history, hist.epochs):
        for k in keys:
            assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k


@pytest.mark.parametrize("loop, sched", [
    ({"amp": "bf16", "grad_clip": 0.5}, SchedSpec("OneCycleLR", params={"max_lr": 0.1})),
    ({}, SchedSpec("ReduceLROnPlateau", params={"patience": 0, "factor": 0.5}, monitor="val_accuracy")),
    ({}, SchedSpec("StepLR", params={"step_size": 1, "gamma": 0.7}, warmup=1, swa=True, swa_start=2,
                   swa_anneal_epochs=1)),
])
def test_the_plain_loop_gives_fits_numbers(loop, sched):
    spec = _spec(**loop)
    spec.sched = sched
    _, history, final = _plain_run(spec)
    hist = _fit(spec)
    _same(history, hist)
    assert len({e["lr"] for e in hist.epochs}) > 1                 # the schedule moved the LR
    assert final == pytest.approx(hist.final, rel=1e-9)
    assert bool(final) == spec.sched.swa


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_the_plain_loop_stops_early_and_restores_the_best_weights_as_fit_does(monitor):
    """No mode given (the spec's "auto"): val_accuracy is judged higher-is-better by both, val_loss lower."""
    spec = _spec(early_stopping=1, monitor=monitor, epochs=12)
    spec.optim.lr = 0.8                       # too high: val_loss soon stops falling
    model, history, _ = _plain_run(spec)
    seen = {}

    class Keep(Callback):
        def on_fit_end(self, state):    # after EarlyStopping's own on_fit_end restored the best weights
            seen["weights"] = {k: v.clone() for k, v in state.model.state_dict().items()}
    hist = _fit(spec, [Keep()])
    assert 1 < len(history) < 12 and hist.stop_reason.startswith("early stopping")
    _same(history, hist)
    got = model.state_dict()
    assert all(torch.equal(got[k], seen["weights"][k]) for k in got)


def test_the_plain_modules_import_only_torch_and_the_standard_library():
    """An exported script carries them verbatim: no nbtrain import may hide in them."""
    for module in (plain, plainsched):
        tree = ast.parse(inspect.getsource(module))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert names and all(n.split(".")[0] in ("torch", "copy", "math", "warnings") for n in names), names


def test_fit_runs_the_plain_step_functions():
    """fit()'s steps are plain's: the factories in nbtrain.train.steps return plain's functions."""
    from nbtrain.train import steps
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = steps.make_train_step(model, torch.nn.MSELoss(), opt)
    assert step.__code__ is plain.make_train_step(model, torch.nn.MSELoss(), opt).__code__
    assert step.__qualname__ == "make_train_step.<locals>.step" and step.__module__ == plain.__name__
    assert steps.make_eval_step(model, torch.nn.MSELoss()).__module__ == plain.__name__


def test_fits_schedule_and_early_stopping_are_the_plain_ones():
    """What the script runs for the schedule and early stopping is what fit() runs: Schedule is a Stepper, the
    EarlyStopping sink an EarlyStop, the run record's best judged by the same improved()."""
    from nbtrain.sinks.early_stop import EarlyStopping
    from nbtrain.train import history
    assert issubclass(Schedule, plainsched.Stepper) and issubclass(EarlyStopping, plain.EarlyStop)
    assert history.improved is plain.improved
    assert Schedule.after_step is plainsched.Stepper.after_step
    assert EarlyStopping.should_stop is plain.EarlyStop.should_stop
