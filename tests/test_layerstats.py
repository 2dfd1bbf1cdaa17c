"""LayerStats: per-layer gradient norms and update/weight ratios at log points, activation statistics per epoch."""
import pytest
import torch
from tinyfit import blobs, mini_fit, tiny_cnn
from torch import nn

import nbtrain
from nbtrain.sinks.defaults import default_sinks
from nbtrain.sinks.layerstats import LayerStats, unit_stats
from nbtrain.spec import LoopSpec
from nbtrain.train.callbacks import Callback


class Reference(Callback):
    """After LayerStats: the same numbers computed separately with torch, per layer (module with own params)."""

    def __init__(self, every):
        self.every, self.grads, self.updates, self.prev = every, [], [], None

    def on_batch_start(self, state):
        if (state.step + 1) % self.every == 0:
            self.prev = {n: p.detach().clone() for n, p in state.model.named_parameters()}

    def on_batch_end(self, state, logs):
        if not logs:
            return
        g, u = [], []
        for name, m in state.model.named_modules():
            own = list(m.named_parameters(recurse=False))
            if not own:
                continue
            g.append(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for _, p in own])).item())
            full = [f"{name}.{n}" if name else n for n, _ in own]
            diff = torch.cat([(p.detach() - self.prev[f]).flatten() for f, (_, p) in zip(full, own)])
            w = torch.cat([p.detach().flatten() for _, p in own])
            u.append((torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(w)).item())
        self.grads.append(g)
        self.updates.append(u)


def test_grad_norms_and_update_ratios_equal_torchs_computed_separately():
    stats, ref = LayerStats(every=2), Reference(2)
    state = mini_fit(model=tiny_cnn(bn=True), callbacks=[stats, ref], epochs=2, log_every=2)
    assert stats.names == ["0 Conv2d", "1 BatchNorm2d", "4 Conv2d", "7 Linear"]
    assert [r["step"] for r in stats.rows] == list(range(2, 2 * state.steps_per_epoch + 1, 2))   # each log point once
    assert len(ref.grads) == len(stats.rows) == 6
    for row, g, u in zip(stats.rows, ref.grads, ref.updates):
        assert row["grad"] == pytest.approx(g, rel=1e-5)
        assert row["update"] == pytest.approx(u, rel=1e-4)
    assert all(0 < v < 1 for r in stats.rows for v in r["update"])


def test_a_frozen_layer_is_not_a_layer_and_a_stale_copy_gives_no_ratio():
    model = tiny_cnn()
    model[0].requires_grad_(False)
    stats = LayerStats(every=3)                 # log points every 2 steps: only steps 6, 12 were foreseen
    mini_fit(model=model, callbacks=[stats], epochs=2, log_every=2)
    assert stats.names == ["3 Conv2d", "6 Linear"]
    by_step = {r["step"]: r for r in stats.rows}
    assert all(v is not None for v in by_step[6]["update"]) and all(v is not None for v in by_step[12]["update"])
    assert by_step[2]["update"] == [None, None] and by_step[4]["update"] == [None, None]
    assert all(v > 0 for r in stats.rows for v in r["grad"])


def test_dead_units_are_channels_or_features_zero_for_every_sample():
    x = torch.zeros(4, 3, 2, 2)
    x[0, 0, 1, 1] = 1.0                          # channel 0 lives (one sample, one position)
    x[:, 2] = 2.0                                # channel 2 lives everywhere; channel 1 is dead
    mean, std, dead = unit_stats(x).tolist()
    assert dead == pytest.approx(1 / 3) and mean == pytest.approx(x.mean().item())
    assert std == pytest.approx(x.std().item())
    flat = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    assert unit_stats(flat)[2].item() == pytest.approx(0.5)


def test_activations_on_the_probe_batch_in_eval_mode_with_every_mode_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 3), nn.Tanh(), nn.Softmax(1))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 0.5]))      # 3 of 4 ReLU units dead for any input
    model.train()
    model[2].eval()                             # frozen alone, as in fine-tuning: stays so
    x = torch.randn(8, 4)
    stats = LayerStats()

    class S:
        pass
    st = S()
    st.model, st.probe, st.loop_spec, st.val_loader = model, (x, None), None, None
    st.callbacks, st.epoch, st.step, st.history = [], 0, 5, None
    stats.on_fit_start(st)
    assert stats.act_names == ["1 ReLU", "4 Tanh"]                      # Softmax (a probability layer) aside
    stats.on_epoch_end(st, {})
    row = stats.acts[-1]
    assert row["epoch"] == 1 and row["step"] == 5 and row["dead"] == [0.75, 0.0]
    assert model[0].training and model[1].training and not model[2].training      # every mode as it was
    assert all(not m._forward_hooks for m in model.modules())
    with torch.no_grad():
        model.eval()
        relu = torch.relu(model[0](x))
        tanh = model[4](model[3](model[2](relu)))
    assert row["mean"] == pytest.approx([relu.mean().item(), tanh.mean().item()], rel=1e-5)
    assert row["std"] == pytest.approx([relu.std().item(), tanh.std().item()], rel=1e-5)


def _digits_tensors(n=256):
    x, y = blobs(n)
    return x.flatten(1), y


def test_tensorboard_gets_the_layer_statistics_as_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    x, y = _digits_tensors()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))
    stats = LayerStats()
    nbtrain.fit(model=model, train=(x, y), val=(x[:64], y[:64]), epochs=2, log_every=2, logdir=str(tmp_path),
                dashboard=False, progress=False, histograms=False, feature_maps=False, run_name="r", callbacks=[stats])
    acc = EventAccumulator(str(tmp_path / "r"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for t in ("layers/grad_norm/0_Linear", "layers/grad_norm/2_Linear", "layers/update_ratio/2_Linear",
              "layers/act_mean/1_ReLU", "layers/act_std/1_ReLU", "layers/dead/1_ReLU"):
        assert t in tags, (t, tags)
    grads = acc.Scalars("layers/grad_norm/0_Linear")
    assert [e.step for e in grads] == list(range(2, 2 * 4 + 1, 2))          # 4 steps an epoch (64 a batch)
    assert [e.value for e in grads] == pytest.approx([r["grad"][0] for r in stats.rows], rel=1e-6)
    dead = acc.Scalars("layers/dead/1_ReLU")
    assert [e.step for e in dead] == [1, 2]                                  # x: the epoch
    assert [e.value for e in dead] == pytest.approx([a["dead"][0] for a in stats.acts])


def test_defaults_add_layer_stats_before_the_doctor_and_only_when_something_reads_them():
    ls = LoopSpec(logdir="", checkpoint_dir="")
    kinds = [type(c).__name__ for c in default_sinks(ls, run_name="r", is_main=True,
                                                    dashboard=False, progress=False)]
    assert kinds == ["NanGuard", "LayerStats", "Doctor"]
    none = default_sinks(ls, run_name="r", is_main=True, dashboard=False, progress=False,
                         doctor=False)
    assert [type(c).__name__ for c in none] == ["NanGuard"]
    mine = LayerStats(every=5)
    given = default_sinks(ls, run_name="r", is_main=True, dashboard=False, progress=False,
                          callbacks=[mine])
    assert [type(c).__name__ for c in given] == ["NanGuard", "Doctor", "LayerStats"] and given[-1] is mine
    workers = default_sinks(ls, run_name="r", is_main=False, dashboard=False, progress=False)
    assert [type(c).__name__ for c in workers] == ["NanGuard"]


def test_the_probe_pass_keeps_to_its_budget_and_always_runs_at_the_first_and_last_epoch():
    """Epochs of 1 s (a fake clock), a probe pass of 0.25 s: at 12.5% it pays for itself 2 s after the last one."""
    x, y = _digits_tensors()
    seen = {}
    for budget in (0.125, 1.0):
        t = [0.0]
        stats = LayerStats(budget=budget, clock=lambda t=t: t[0])
        real = stats.activations

        def costly(model, probe, real=real, t=t):
            t[0] += 0.25
            return real(model, probe)
        stats.activations = costly

        class Tick(Callback):
            def on_epoch_start(self, state, t=t):
                t[0] += 1.0
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))
        nbtrain.fit(model=model, train=(x, y), val=(x[:64], y[:64]), epochs=6, logdir="", checkpoint_dir="",
                    dashboard=False, progress=False, callbacks=[Tick(), stats])
        seen[budget] = [a["epoch"] for a in stats.acts]
    assert seen == {0.125: [1, 3, 5, 6], 1.0: [1, 2, 3, 4, 5, 6]}
