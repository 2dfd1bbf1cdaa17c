import random

import numpy as np
import pytest
import torch
from torch import nn

from nbtrain.errors import NbtrainError
from nbtrain.train.lrfind import lr_find, suggest


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] > 0).long()
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    return model, batches


def test_lr_find_restores_weights_optimizer_and_rng():
    model, batches = _problem()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # give Adam some state, so restoring it is tested
    nn.functional.cross_entropy(model(batches[0][0]), batches[0][1]).backward()
    opt.step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_before = {k: v.clone() for k, v in opt.state[next(iter(model.parameters()))].items()}
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(7)
    expect = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(7)
    model.eval()

    res = lr_find(model=model, data=batches, optimizer=opt, num_steps=12, end_lr=1.0)

    assert len(res.lrs) == 12 and res.lrs[0] == pytest.approx(1e-7) and res.lrs[-1] == pytest.approx(1.0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)       # weights and BatchNorm buffers
    assert not model.training                                          # mode restored
    state = opt.state[next(iter(model.parameters()))]
    assert all(torch.equal(opt_before[k], state[k]) for k in opt_before)
    assert opt.param_groups[0]["lr"] == 1e-3
    assert (torch.rand(3).tolist(), random.random(), np.random.rand()) == (expect[0].tolist(), expect[1], expect[2])


def test_lr_find_stops_when_the_loss_diverges_and_suggests_inside_the_range():
    model, batches = _problem()
    res = lr_find(model=model, data=batches, num_steps=60, start_lr=1e-4, end_lr=1e4)
    assert len(res.lrs) < 60                     # stopped early on divergence
    assert res.suggestion is not None and 1e-4 <= res.suggestion <= res.lrs[-1]


def test_suggest_picks_the_steepest_fall():
    lrs = [10.0 ** e for e in range(-6, 2)]
    losses = [2.0, 2.0, 2.0, 2.0, 1.9, 1.0, 0.9, 3.0]
    assert suggest(lrs, losses, skip_start=0, skip_end=0) == 1e-2


def test_lr_find_bad_input():
    model, batches = _problem()
    with pytest.raises(NbtrainError, match=r"^lr_find: needs 0 < start_lr < end_lr, got 1 and 0.1 \(e.g. start_lr=1e-7, end_lr=10\)$"):
        lr_find(model=model, data=batches, start_lr=1.0, end_lr=0.1)
    with pytest.raises(NbtrainError, match=r"^lr_find: the training data gave no batches"):
        lr_find(model=model, data=[])


def test_lr_find_on_a_spec_leaves_the_global_rng_alone():
    from nbtrain.spec import TrainSpec
    from nbtrain.widgets.presets import mlp
    spec = TrainSpec.default()
    spec.model = mlp(10)
    torch.manual_seed(42)
    expect = torch.rand(2)
    torch.manual_seed(42)
    res = lr_find(spec, num_steps=15, end_lr=0.1)
    assert len(res.lrs) == 15 and torch.equal(torch.rand(2), expect)
    assert res.figure().axes[0].get_xscale() == "log" and res._repr_png_().startswith(b"\x89PNG")


def test_the_lr_finder_figure_needs_no_widgets():
    import subprocess
    import sys
    code = ("import sys; from nbtrain.train.lrfind import LRFindResult; "
            "png = LRFindResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, 0.7], 1e-2)._repr_png_(); "
            "print(png[:4] == b'\\x89PNG', [m for m in ('nbtrain.widgets', 'ipywidgets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True []"


def _smoothed(raw, beta=0.98):
    avg, out = 0.0, []
    for i, v in enumerate(raw):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def _fit_at_lrs(lrs, **kw):
    """fit() with each step's LR set to ``lrs[step]``, stopped after them: its per-step losses (log_every=1)."""
    from nbtrain.train.callbacks import Callback
    from nbtrain.train.loop import fit

    class AtLRs(Callback):
        def on_batch_start(self, st):
            if st.step >= len(lrs):
                st.request_stop("done")
            for g in st.optimizer.param_groups:
                g["lr"] = lrs[min(st.step, len(lrs) - 1)]
    hist = fit(callbacks=[AtLRs()], log_every=1, dashboard=False, progress=False, doctor=False, **kw)
    return [s["loss"] for s in hist.steps][:len(lrs)]


def test_lr_find_steps_as_fit_does_with_amp_and_gradient_clipping():
    """On a spec with bf16 autocast and grad_clip, lr_find's losses are fit()'s at the same LRs (fit's step)."""
    from nbtrain.spec import TrainSpec
    from nbtrain.widgets.presets import mlp
    spec = TrainSpec.default()
    spec.model = mlp(10)
    spec.loop.logdir, spec.loop.checkpoint_dir, spec.loop.epochs = "", "", 1
    spec.loop.amp, spec.loop.grad_clip = "bf16", 0.05
    res = lr_find(spec, num_steps=6, start_lr=1e-3, end_lr=1.0, diverge=1e9)
    want = _smoothed(_fit_at_lrs(res.lrs, spec=spec))
    assert res.losses == pytest.approx(want, rel=1e-9)
    plain = lr_find(spec, num_steps=6, start_lr=1e-3, end_lr=1.0, diverge=1e9, amp="off", grad_clip=0.0)
    assert plain.losses[0] != pytest.approx(res.losses[0], rel=1e-6)       # bf16 rounds the first loss
    assert plain.losses[2:] != pytest.approx(res.losses[2:], rel=1e-3)     # unclipped steps go elsewhere


def test_lr_find_runs_lbfgs_through_its_closure_as_fit_does():
    """LBFGS re-evaluates the loss: lr_find gives its step a closure (fit's step), and records fit's losses."""
    model, batches = _problem()
    opt = torch.optim.LBFGS(model.parameters(), lr=1e-3, max_iter=3)
    res = lr_find(model=model, data=batches, optimizer=opt, loss=nn.CrossEntropyLoss(), num_steps=6,
                  start_lr=1e-3, end_lr=1.0, diverge=1e9)
    model2, _ = _problem()
    opt2 = torch.optim.LBFGS(model2.parameters(), lr=1e-3, max_iter=3)
    want = _smoothed(_fit_at_lrs(res.lrs, model=model2, train=batches, optimizer=opt2, epochs=2))
    assert len(res.losses) == 6 and res.losses == pytest.approx(want, rel=1e-9)
