import re
import warnings

import pytest
import torch
from tinyfit import Loader, blobs, mini_fit, tiny_cnn
from torch import nn
from torchvision.transforms import v2

from nbtrain.sinks.doctor import Doctor, DoctorWarning
from nbtrain.spec import TrainSpec, TransformSpec
from nbtrain.train.callbacks import Callback, State
from nbtrain.train.history import History


def _run(**kw):
    said = []
    doc = Doctor(emit=lambda code, msg: said.append(code))
    state = mini_fit(callbacks=[doc, *kw.pop("callbacks", ())], **kw)
    return doc, said, state


@pytest.mark.parametrize("monitor, mode, said", [
    ("val_accuracy", "min", ["monitor_mode"]), ("val_loss", "max", ["monitor_mode"]),
    ("val_accuracy", "max", []), ("val_loss", "min", []), ("loss", "min", [])])
def test_a_monitor_judged_the_wrong_way_is_said_once_with_its_fix(monitor, mode, said):
    doc, got, _ = _run(epochs=1, monitor=monitor, mode=mode)
    assert got == said
    if said:
        other = "max" if mode == "min" else "min"
        assert doc.said["monitor_mode"] == (
            f"the best epoch, best.pt and early stopping watch {monitor!r} with mode={mode!r}, so a "
            f"{'lower' if mode == 'min' else 'higher'} {monitor} counts as better (pass mode={other!r} with "
            f"monitor={monitor!r})")


def test_quiet_on_a_clean_run():
    doc, said, state = _run(model=tiny_cnn(bn=True), epochs=2, spec=TrainSpec.default())
    assert said == [] and doc.said == {} and state.notes == []
    assert all(not m._forward_pre_hooks for m in state.model.modules())     # hooks gone after the fit


def test_a_callback_that_sets_eval_mode_cannot_make_fit_train_in_it():
    """fit() puts the model back in train mode before each step, so the doctor has no eval-mode step to report."""
    seen = []

    class Evaluator(Callback):
        def on_batch_start(self, state):
            state.model.eval()

    class Watch(Callback):
        def on_batch_end(self, state, logs):
            seen.append(state.model.training)
    doc, said, _ = _run(callbacks=[Evaluator(), Watch()])
    assert said == [] and seen == [True] * 12


def test_softmax_before_cross_entropy():
    doc, said, _ = _run(model=tiny_cnn(softmax=True), epochs=1)
    assert said == ["softmax_ce"]
    assert doc.said["softmax_ce"] == (
        "the last layer '7' (Softmax) feeds CrossEntropyLoss, which applies log-softmax itself, so the gradients "
        "are squashed (remove the last Softmax: the model should output raw logits)")


def test_log_softmax_before_nll_loss_is_fine():
    model = nn.Sequential(*tiny_cnn(), nn.LogSoftmax(dim=1))
    _, said, _ = _run(model=model, loss_fn=nn.NLLLoss(), epochs=1)
    assert said == []


def _state(lr=0.05):
    model = nn.Linear(2, 2)
    return State(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr))


def _trend(losses, rising=3, lr=0.05):
    said = []
    doc, st = Doctor(rising=rising, emit=lambda c, m: said.append(c)), _state(lr)
    for step, loss in enumerate(losses, 1):
        st.step = step * 10
        doc.on_log(st, {"loss": loss})
    return doc, said


def test_a_planted_divergence_is_caught_with_lr_over_10():
    doc, said = _trend([1.0, 0.9, 0.8, 0.9, 1.3, 2.0, 3.0, 4.5, 6.0])
    assert said == ["loss_rising"]
    assert re.fullmatch(r"the loss trend rose from 0\.8\d+ to \d\.\d+ over the last 3 log points, at step \d0 "
                        r"\(lower the learning rate to 0\.005 \(LR / 10\)\)", doc.said["loss_rising"]), doc.said


def test_noise_near_zero_loss_is_not_a_rise():
    """The issue's case: a run ending at 100% accuracy whose loss wobbled 0.0025 -> 0.0126."""
    _, said = _trend([0.5, 0.1, 0.02, 0.0025, 0.004, 0.008, 0.0126, 0.011, 0.0126, 0.012])
    assert said == []


def test_a_short_bump_that_comes_back_is_not_a_rise():
    _, said = _trend([1.0, 0.8, 0.6, 0.9, 0.95, 0.5, 0.4, 0.35, 0.3])
    assert said == []


def test_the_trend_check_keeps_a_running_low_not_the_whole_run():
    """The rise is judged against the lowest trend value before the last ``rising`` ones; the doctor keeps that low
    and the last ``rising`` values only, so a log point costs the same at step 10 and at step 100,000."""
    losses = [2.0 / (1 + 0.01 * i) for i in range(20_000)] + [3.0] * 8
    doc, said = _trend(losses, rising=5)
    assert len(doc._trend) == 5 and said == ["loss_rising"]
    trend, prev = [], losses[0]
    for loss in losses:                              # the whole trend, as the check was written before
        prev = 0.6 * prev + 0.4 * loss
        trend.append(prev)
    assert doc._low == min(trend[:-5]) and list(doc._trend) == trend[-5:]
    assert doc.said["loss_rising"].startswith(f"the loss trend rose from {min(trend[:-5]):.4g} to ")


def test_nan_is_the_nan_guards_not_the_doctors():
    doc, said = _trend([1.0, float("nan"), float("nan")])
    assert said == [] and doc.said == {}


def test_quiet_on_a_real_run_that_ends_at_100_percent():
    x, y = blobs(48)
    _, said, state = _run(x=x, y=y, epochs=40, lr=0.1, log_every=1)
    assert state.history.epochs[-1]["val_accuracy"] == 1.0 and state.history.epochs[-1]["loss"] < 0.05
    assert said == [] and state.notes == []


def test_random_augmentation_in_the_val_spec():
    spec = TrainSpec.default()
    spec.data.val_transforms.insert(0, TransformSpec("RandomHorizontalFlip", {"p": 0.5}))
    spec.data.random_val = True                 # allowed (else building the data refuses it), and still said
    doc, said, _ = _run(spec=spec, epochs=1)
    assert said == ["val_random"]
    assert doc.said["val_random"] == (
        "the validation pipeline has random augmentation (RandomHorizontalFlip), so val metrics change from run "
        "to run (move it to the train pipeline: data.train_transforms)")


def test_random_augmentation_in_the_val_loader_dataset():
    x, y = blobs(16)
    ds = torch.utils.data.TensorDataset(x, y)
    ds.transform = v2.Compose([v2.ToDtype(torch.float32), v2.RandomApply([v2.RandomRotation(10)])])
    sub = torch.utils.data.Subset(ds, range(8))
    _, said, _ = _run(val=Loader(x[:8], y[:8], 8, dataset=sub), epochs=1)
    assert said == ["val_random"]


def test_unnormalized_inputs():
    x, y = blobs(48, scale=70.0, shift=100.0)                     # like raw 0..255 pixels
    doc, said, _ = _run(x=x, y=y, lr=1e-4, epochs=1)
    assert said[0] == "unnormalized"
    assert doc.said["unnormalized"].startswith("the first training batch has mean ")
    assert "(normalize the inputs: add Normalize(mean, std)" in doc.said["unnormalized"]


def test_batchnorm_with_a_batch_of_one():
    x, y = blobs(49)                                               # 6 batches of 8, then 1
    doc, said, _ = _run(model=tiny_cnn(bn=True), x=x, y=y, epochs=2)
    assert said == ["bn_batch1"]
    assert doc.said["bn_batch1"].startswith("BatchNorm layer '1' got a batch of 1 sample in training")


def test_default_emit_is_a_python_warning_once_unless_a_display_shows_the_notes():
    for shown, want in ((False, [DoctorWarning]), (True, [])):
        st = _state()
        st.history = History()
        st.history.notes_shown = shown                       # fit() sets it when a display shows the notes
        doc = Doctor()
        doc.on_fit_start(st)
        st.model.eval()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            doc.on_batch_end(st, {})
            doc.on_batch_end(st, {})
        assert [type(w.message) for w in rec] == want
        assert st.notes == st.history.notes == [doc.said["eval_mode"]]    # kept for the display either way, once


def test_a_fit_whose_display_shows_the_notes_prints_no_warning():
    import nbtrain

    class Shows(Callback):
        shows_notes = True
    model = tiny_cnn(softmax=True)                           # Softmax before CrossEntropyLoss: a note at the start
    x, y = blobs(16)
    for callbacks, want in (([], 1), ([Shows()], 0)):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            h = nbtrain.fit(model=model, train=(x, y), epochs=1, callbacks=callbacks, dashboard=False, progress=False)
        assert sum(isinstance(w.message, DoctorWarning) and "softmax" in str(w.message).lower() for w in rec) == want
        assert len([n for n in h.notes if "CrossEntropyLoss" in n]) == 1


def test_random_transforms_are_the_catalogs():
    from nbtrain.spec.catalog import TRANSFORMS, is_random
    tagged = {n for n, e in TRANSFORMS.items() if "random" in e.tags}
    assert {"ColorJitter", "GaussianBlur", "RandomCrop"} <= tagged
    assert all(is_random(n) for n in tagged)
    assert not any(is_random(n) for n in ("Normalize", "ToTensor", "Resize", "CenterCrop"))


@pytest.mark.parametrize("aug", [v2.AutoAugment(), v2.RandAugment(), v2.AugMix()])
def test_policy_augmentations_in_a_users_own_val_loader_are_flagged(aug):
    """AutoAugment, RandAugment and AugMix draw random numbers but are not named Random...: the catalog knows."""
    x, y = blobs(16)
    ds = torch.utils.data.TensorDataset(x, y)
    ds.transform = v2.Compose([aug, v2.ToDtype(torch.float32)])
    doc, said, _ = _run(val=Loader(x[:8], y[:8], 8, dataset=ds), epochs=1)
    assert said == ["val_random"] and f"({type(aug).__name__})" in doc.said["val_random"]


# -- with nbtrain's own fit on the default spec ---------------------------------------------------------
def _fit_spec(spec):
    import nbtrain
    said = []
    doc = Doctor(emit=lambda code, msg: said.append(code))
    nbtrain.fit(spec, epochs=1, callbacks=[doc], logdir="", checkpoint_dir="", progress=False, dashboard=False)
    return doc, said


def test_real_fit_default_spec_is_clean():
    doc, said = _fit_spec(TrainSpec.default())
    assert said == [], doc.said


def test_real_fit_planted_mistakes_in_the_spec():
    from nbtrain.spec import LayerSpec
    spec = TrainSpec.default()
    spec.model.layers.append(LayerSpec("Softmax", params={"dim": 1}))
    spec.data.train_transforms = [TransformSpec("ToTensor")]              # no Normalize
    spec.data.val_transforms = [TransformSpec("RandomHorizontalFlip"), TransformSpec("ToTensor")]
    spec.data.random_val = True
    doc, said = _fit_spec(spec)
    assert sorted(said) == ["softmax_ce", "unnormalized", "val_random"]
    assert "the last layer '10' (Softmax) feeds CrossEntropyLoss" in doc.said["softmax_ce"]


def test_fit_runs_the_doctor_by_default_and_can_turn_it_off():
    """The doctor is on by default in fit(): a planted Softmax before CrossEntropyLoss is caught."""
    import warnings as w

    import nbtrain as nb
    from nbtrain.sinks.doctor import DoctorWarning
    spec = nb.TrainSpec.default()
    spec.data.size, spec.data.dataset = 64, "synthetic"
    spec.data.image_shape, spec.data.train_transforms, spec.data.val_transforms = [1, 28, 28], [], []
    spec.model.layers.append(nb.LayerSpec("Softmax", params={"dim": 1}))
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 1, "", ""
    with w.catch_warnings(record=True) as got:
        w.simplefilter("always")
        nb.fit(spec, dashboard=False, progress=False)
    said = [str(x.message) for x in got if issubclass(x.category, DoctorWarning)]
    assert any(m.startswith("the last layer '10' (Softmax) feeds CrossEntropyLoss") for m in said)
    with w.catch_warnings(record=True) as got:
        w.simplefilter("always")
        nb.fit(spec, dashboard=False, progress=False, doctor=False)
    assert not [x for x in got if issubclass(x.category, DoctorWarning)]


# -- rules on the per-layer statistics (nbtrain.sinks.layerstats) and GPU memory ----------------------------
def _fit_model(model, epochs=2, lr=1e-3, **kw):
    import nbtrain
    from nbtrain.sinks.layerstats import LayerStats
    said = []
    doc = Doctor(emit=lambda code, msg: said.append(code))
    x, y = blobs(256)
    x = x.flatten(1)
    nbtrain.fit(model=model, train=(x, y), val=(x[:64], y[:64]), epochs=epochs, log_every=2, callbacks=[doc],
                optimizer=torch.optim.Adam(model.parameters(), lr=lr), progress=False, dashboard=False, **kw)
    stats = next(c for c in doc._state.callbacks if isinstance(c, LayerStats))
    return doc, said, stats


def test_a_planted_vanishing_gradient_is_caught_with_its_fix():
    torch.manual_seed(0)
    layers = [nn.Linear(64, 32), nn.Sigmoid()]
    for _ in range(9):                                           # a deep Sigmoid stack
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    doc, said, stats = _fit_model(nn.Sequential(*layers, nn.Linear(32, 3)))
    assert "vanishing_gradients" in said
    first, last = stats.rows[-1]["grad"][0], stats.rows[-1]["grad"][-1]
    assert first < 1e-3 * last
    msg = doc.said["vanishing_gradients"]
    assert re.fullmatch(r"the gradients vanish toward the input: the first layer '0 Linear' gets a gradient norm of "
                        r"\S+, \S+ times smaller than the last layer '20 Linear' \(\S+\), for 3 log points in a row, "
                        r"so the first layers hardly learn \(use ReLU instead of Sigmoid or Tanh between layers, add "
                        r"BatchNorm after the Linear/Conv layers, or use residual connections\)", msg), msg


def test_a_planted_dead_relu_layer_is_caught_with_its_fix():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))
    with torch.no_grad():
        model[0].bias.fill_(-20.0)                               # a large negative bias: every unit dead
    doc, said, stats = _fit_model(model, epochs=1)
    assert said == ["dead_relu"]
    assert stats.acts[-1]["dead"] == [1.0]
    assert doc.said["dead_relu"] == (
        "100% of the units after layer '1 ReLU' are 0 for every sample of the probe batch: dead units that pass no "
        "gradient and no longer learn (lower the learning rate, use LeakyReLU or GELU, or check the layer before "
        "it: a large negative bias or a bad initialization kills them)")


def test_the_layer_rules_are_quiet_on_the_default_run():
    import nbtrain
    from nbtrain.sinks.layerstats import LayerStats
    said = []
    doc = Doctor(emit=lambda code, msg: said.append(code))
    nbtrain.fit(TrainSpec.default(), epochs=3, log_every=5, callbacks=[doc], logdir="", checkpoint_dir="",
                progress=False, dashboard=False)
    stats = next(c for c in doc._state.callbacks if isinstance(c, LayerStats))
    epochs = [a["epoch"] for a in stats.acts]                         # the first and the last at least (its budget)
    assert len(stats.rows) >= 12 and epochs[0] == 1 and epochs[-1] == 3  # the rules had numbers to judge
    assert said == [], doc.said


def _rows(grads, updates=None):
    return [{"step": i, "grad": g, "update": (updates or [[None] * len(g)] * len(grads))[i]}
            for i, g in enumerate(grads)]


def test_exploding_gradients_need_three_log_points_in_a_row():
    from nbtrain.sinks import layerrules as rules
    names = ["0 Linear", "2 Linear"]
    assert rules.exploding(_rows([[5e3, 1.0], [2e3, 1.0], [0.5, 1.0]]), names) is None
    code, msg = rules.exploding(_rows([[5e3, 1.0], [2e3, 1.0], [4e3, 9e3]]), names)
    assert code == "exploding_gradients"
    assert msg == ("the gradients explode: layer '2 Linear' has a gradient norm of 9e+03 (above 1000 for 3 log points "
                   "in a row), so each step throws the weights far (clip the gradients with loop.grad_clip=1.0, lower "
                   "the learning rate, or add BatchNorm/LayerNorm)")


def test_update_ratio_far_from_1e_3_says_which_way_to_move_the_lr():
    from nbtrain.sinks import layerrules as rules
    low = _rows([[1.0, 1.0]] * 5, [[1e-7, 2e-7]] * 5)
    code, msg = rules.update_ratio(low, lr=1e-4)
    assert code == "update_ratio_low" and msg.endswith("the weights hardly move (raise the learning rate, e.g. to "
                                                       "0.001 (LR x 10))"), msg
    assert msg.startswith("each step changes the weights by 1.5e-07 of their norm (median over layers, 5 log points")
    code, msg = rules.update_ratio(_rows([[1.0, 1.0]] * 5, [[0.5, 0.3]] * 5), lr=1.0)
    assert code == "update_ratio_high" and msg.endswith("(lower the learning rate, e.g. to 0.1 (LR / 10))")
    mixed = _rows([[1.0, 1.0]] * 5, [[1e-7, 1e-7]] * 4 + [[1e-3, 1e-3]])
    assert rules.update_ratio(mixed, lr=1e-4) is None                      # not sustained
    assert rules.update_ratio(low[:4], lr=1e-4) is None


def _fake_cuda(monkeypatch, allocated, reserved, peak, total):
    import types
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: allocated)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d=None: reserved)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: peak)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d=None: types.SimpleNamespace(total_memory=total))


def test_gpu_memory_near_the_limit_suggests_amp_or_a_smaller_batch(monkeypatch):
    gib = 2 ** 30
    said = []
    doc = Doctor(emit=lambda code, msg: said.append(code))
    st = _state()
    st.device, st.train_loader = torch.device("cuda", 0), Loader(*blobs(16), 128)
    doc.on_fit_start(st)
    _fake_cuda(monkeypatch, 30 * gib, 40 * gib, 60 * gib, 80 * gib)       # 75%: fine
    doc.on_epoch_end(st, {})
    assert said == []
    _fake_cuda(monkeypatch, 30 * gib, 78 * gib, 76 * gib, 80 * gib)       # 95%
    doc.on_log(st, {"loss": 1.0})
    doc.on_epoch_end(st, {})
    assert said == ["memory"]
    assert doc.said["memory"] == (
        "the GPU memory peaked at 76.00 GiB, 95% of the device's 80.00 GiB, so a larger batch or model will run out "
        "of memory (train in mixed precision with loop.amp='bf16' (or 'fp16'), or halve the batch: "
        "data.batch_size=64)")


def test_on_cpu_there_is_no_memory_rule(monkeypatch):
    from nbtrain.sinks.memory import cuda_memory
    _fake_cuda(monkeypatch, 1, 1, 10 ** 12, 10 ** 12)                  # would fire, but the run is on the CPU
    said = []
    doc = Doctor(emit=lambda code, msg: said.append(code))
    st = _state()
    st.device = torch.device("cpu")
    doc.on_fit_start(st)
    doc.on_epoch_end(st, {})
    assert said == [] and cuda_memory(torch.device("cpu")) is None and cuda_memory(None) is None
