import math

import pytest
import torch
from loop_fixtures import Events, ModeRecorder, tiny_cnn, tiny_data
from torch import nn

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.train.callbacks import Callback
from nbtrain.train.metrics import Accumulator
from nbtrain.train.steps import evaluate, make_eval_step


def _fit(model, **kw):
    tr, va = tiny_data()
    kw.setdefault("epochs", 1)
    kw.setdefault("progress", False)
    return nbtrain.fit(model=model, train=tr, val=va, **kw)


def test_fit_returns_history_with_train_and_val_logs():
    h = _fit(tiny_cnn(), epochs=2, log_every=2)
    assert [e["epoch"] for e in h.epochs] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "step"} <= set(h.epochs[0])
    assert h["val_loss"] == [e["val_loss"] for e in h.epochs]
    assert h.epochs[-1]["step"] == 10 and h.epochs[0]["lr"] == 1e-3
    # a log every 2 global steps, and the trailing window at each epoch end (5 batches per epoch)
    assert [s["step"] for s in h.steps] == [2, 4, 5, 6, 8, 10]
    assert all(0 <= e["val_accuracy"] <= 1 for e in h.epochs)


def test_train_mode_before_every_step_even_after_a_probe_mid_epoch():
    """Seed 004's bug: a probe calls model.eval() mid-epoch and forgets to switch back."""
    rec = ModeRecorder()
    model = nn.Sequential(rec, *tiny_cnn())

    class Probe(Callback):
        def on_batch_end(self, state, logs):
            if state.batch == 1:
                state.model.eval()            # ... and never model.train()
                with torch.no_grad():
                    state.model(torch.zeros(1, 1, 6, 6))

    _fit(model, callbacks=[Probe()])
    train_calls = [c for c in rec.calls if c[1]]           # forwards with grad: the training steps
    assert len(train_calls) == 5 and all(training for training, _ in train_calls)
    assert (False, False) in rec.calls                      # the probe did run in eval mode


def test_a_layer_a_callback_froze_stays_frozen_while_the_rest_trains():
    """Fine-tuning habit: BatchNorm put in eval mode alone keeps its running statistics; Dropout still trains."""
    rec = ModeRecorder()
    model = nn.Sequential(rec, *tiny_cnn())
    bn = model[2]

    class FreezeBN(Callback):
        def on_fit_start(self, state):
            bn.eval()

    before = bn.running_mean.clone()
    _fit(model, epochs=2, callbacks=[FreezeBN()])                        # validation between the epochs
    assert torch.equal(bn.running_mean, before) and int(bn.num_batches_tracked) == 0
    assert model.training and bn.training                                # as they were before fit()
    bn.eval()                                                            # frozen by the caller before fit()
    _fit(model, epochs=2)
    assert torch.equal(bn.running_mean, before) and model.training and not bn.training
    assert all(training for training, grad in rec.calls if grad)          # every training step: model in train mode


def test_validation_in_eval_mode_without_grad_and_mode_restored():
    rec = ModeRecorder()
    model = nn.Sequential(rec, *tiny_cnn())
    _fit(model, doctor=False)              # the doctor's layer statistics add a probe forward (eval, no_grad) per epoch
    val_calls = rec.calls[5:]
    assert val_calls == [(False, False)] * 2                  # 24 val samples / 16 per batch
    assert model.training                                      # the caller's mode (train) restored
    model.eval()
    _fit(model)
    assert not model.training                                  # the caller's mode (eval) restored


def test_evaluate_mid_epoch_restores_the_mode():
    model = tiny_cnn()
    _, va = tiny_data()
    model.train()
    logs = evaluate(model, va, make_eval_step(model, nn.CrossEntropyLoss()), Accumulator(), "cpu")
    assert model.training and set(logs) == {"val_loss", "val_accuracy"}


def test_zero_grad_backward_step_order():
    order = []
    model = tiny_cnn()

    class Spy(torch.optim.SGD):
        def zero_grad(self, set_to_none=True):
            order.append("zero_grad")
            super().zero_grad(set_to_none)

        def step(self, closure=None):
            order.append("step")
            return super().step(closure)

    model[-1].weight.register_hook(lambda g: order.append("backward"))
    _fit(model, optimizer=Spy(model.parameters(), lr=0.1))
    assert order == ["zero_grad", "backward", "step"] * 5


def test_epoch_scheduler_steps_per_epoch_and_lr_logged():
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = _fit(model, optimizer=opt, scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5), epochs=3)
    assert h["lr"] == [0.1, 0.05, 0.025]


def test_onecycle_steps_per_batch():
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    h = _fit(model, optimizer=opt, scheduler=sched, epochs=2, log_every=1)
    assert sched.last_epoch == 10
    lrs = [s["lr"] for s in h.steps]
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[5]                # warms up, then anneals


def test_plateau_is_fed_the_monitored_validation_metric():
    fed = []

    class Plateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics):
            fed.append(metrics)
            super().step(metrics)

    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = _fit(model, optimizer=opt, scheduler=Plateau(opt), epochs=2)
    assert fed == h["val_loss"]


def test_plateau_monitor_must_be_logged():
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tr, _ = tiny_data()
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=model, train=tr, optimizer=opt, progress=False,
                    scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(opt))
    assert str(e.value) == ("sched.monitor: ReduceLROnPlateau watches 'val_loss', which this run does not log "
                            "(give validation data (val=...), or monitor one of: loss, accuracy)")


def test_events_in_order():
    ev = Events()
    tr, va = tiny_data(n=48)                                   # 36 train samples: 3 batches
    nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=1, log_every=2, callbacks=[ev], progress=False)
    assert ev.seen == ["fit_start", "epoch_start",
                       "batch_start", "batch_end", "batch_start", "batch_end", "log",
                       "batch_start", "batch_end", "log",
                       "validation_end", "epoch_end", "fit_end"]


def test_a_callback_can_stop_the_run():
    class Stop(Callback):
        def on_batch_end(self, state, logs):
            if state.step == 7:
                state.request_stop("enough")

    h = _fit(tiny_cnn(), epochs=3, callbacks=[Stop()], log_every=100)
    assert len(h.epochs) == 1 and h.steps[-1]["step"] == 7 and h.stop_reason == "enough"


def test_values_are_read_from_the_device_only_at_log_points(monkeypatch):
    reads = []
    orig = Accumulator.read
    monkeypatch.setattr(Accumulator, "read", lambda self: reads.append(self.steps) or orig(self))
    _fit(tiny_cnn(), epochs=2, log_every=2)
    # log points at global steps 2, 4, 6, 8, 10, the trailing window at step 5, per epoch the epoch total and
    # one validation read (the numbers are the steps accumulated in the epoch so far; validation: 2 batches)
    assert reads == [2, 4, 5, 5, 2, 1, 3, 5, 5, 2]


def test_bf16_autocast_on_cpu():
    dtypes = []
    model = tiny_cnn(dropout=0.0)
    model[-1].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    h = _fit(model, amp="bf16")
    assert set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert math.isfinite(h.epochs[0]["loss"]) and 0 < h.epochs[0]["loss"] < 10


def test_grad_clip_bounds_the_gradient_norm():
    model = tiny_cnn()
    _fit(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), grad_clip=1e-3)
    norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert norm <= 1e-3 * 1.0001


def test_seed_makes_runs_repeatable():
    a, b, c = tiny_cnn(seed=1), tiny_cnn(seed=1), tiny_cnn(seed=1)
    ha, hb, _ = _fit(a, seed=3), _fit(b, seed=3), _fit(c, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert ha.epochs == hb.epochs
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))   # dropout differs


def test_regression_with_mae():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x.sum(1, keepdim=True)
    tr = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    model = nn.Linear(4, 1)
    h = nbtrain.fit(model=model, train=tr, val=tr, loss="MSELoss", metrics=["mae"], epochs=2, progress=False,
                    optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with torch.no_grad():
        expect = (model(x) - y).abs().mean().item()
    assert h.epochs[-1]["val_mae"] == pytest.approx(expect, rel=1e-6)
    assert h.epochs[1]["val_loss"] < h.epochs[0]["val_loss"]


def test_device_auto_and_unavailable_device():
    assert nbtrain.fit.__module__ == "nbtrain.train.loop"
    from nbtrain.env import pick_device
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(NbtrainError) as e:
            _fit(tiny_cnn(), device="cuda")
        assert str(e.value) == "loop.device: cuda is not available on this machine (use device 'auto' or 'cpu')"


def test_unknown_argument():
    with pytest.raises(NbtrainError) as e:
        _fit(tiny_cnn(), epoch=3)
    assert str(e.value).startswith("fit: unknown argument 'epoch' (known: spec, model")


def _loader(x, y):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def test_crossentropy_with_float_targets():
    x = torch.randn(16, 4)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=_loader(x, torch.rand(16)), progress=False)
    assert str(e.value) == ("loss: CrossEntropyLoss needs class indices (int64) as targets, got float32 targets of "
                            "shape (8,) (use MSELoss or L1Loss for a regression target, or convert the targets with "
                            "y.long())")


def test_mse_with_class_indices():
    x = torch.randn(16, 4)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=_loader(x, torch.randint(0, 3, (16,))), loss="MSELoss",
                    progress=False)
    assert str(e.value) == ("loss: MSELoss needs float targets shaped like the output (8, 3), got int64 class indices "
                            "of shape (8,) (use CrossEntropyLoss for classification, or a float regression target)")


def test_output_size_differs_from_the_number_of_classes():
    from types import SimpleNamespace
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    data = SimpleNamespace(train=_loader(x, y), val=None, num_classes=10)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), data=data, progress=False)
    assert str(e.value) == ("model (last layer): the model outputs 3 values per sample but the data has 10 classes "
                            "(set the last layer's out_features to 10)")
    with pytest.raises(NbtrainError) as e:      # no class count known: the targets tell
        nbtrain.fit(model=nn.Linear(4, 2), train=_loader(x, torch.full((16,), 4)), progress=False)
    assert str(e.value) == ("model (last layer): the model outputs 2 values per sample but the targets go up to "
                            "class 4 (set the last layer's out_features to 5)")


def test_fp16_with_grad_scaler(tmp_path):
    dtypes = []
    model = tiny_cnn(dropout=0.0)
    model[-1].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    _fit(model, amp="fp16", epochs=2, checkpoint_dir=str(tmp_path), run_name="r")
    assert set(dtypes) == {torch.float16}
    scaler = nbtrain.load_checkpoint(tmp_path / "r" / "last.pt")["scaler"]
    assert scaler["scale"] > 0 and scaler["_growth_tracker"] == 10        # 10 steps, none skipped


def test_early_stopping_monitor_must_be_logged():
    tr, _ = tiny_data()
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=tiny_cnn(), train=tr, early_stopping=2, progress=False)
    assert str(e.value) == ("loop.monitor: early stopping watches 'val_loss', which this run does not log "
                            "(give validation data (val=...), or monitor one of: loss, accuracy)")


def test_a_spec_with_loaders_is_refused():
    tr, _ = tiny_data()
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(nbtrain.TrainSpec.default(), train=tr)
    assert str(e.value) == ("fit: a TrainSpec builds its own data (edit spec.data, or pass model= with train=/val= "
                            "(or data=) and no spec)")
