"""LBFGS in the loop (issue 16): its step gets a closure (zero_grad, forward, loss, backward); the step's loss is the
closure's first evaluation. fit() must give the weights a hand-written closure loop gives after the same steps."""
import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nbtrain
from nbtrain import NbtrainError
from nbtrain.spec import TrainSpec


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(128, 1, generator=g)
    return x, y


def test_lbfgs_through_fit_equals_a_hand_written_closure_loop():
    x, y = _problem()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    mine = copy.deepcopy(model)
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)
    h = nbtrain.fit(model=model, train=(x, y), optimizer=opt, loss="MSELoss", metrics=["mae"], epochs=3,
                    log_every=1, progress=False)
    # fit's in-memory path gives the batches of a DataLoader over a TensorDataset seeded with the run's seed (0)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    opt2 = torch.optim.LBFGS(mine.parameters(), lr=0.5, max_iter=4)
    firsts, evals = [], []
    for _ in range(3):
        for xb, yb in loader:
            seen = []

            def closure(xb=xb, yb=yb, seen=seen):     # bound now: called within this step
                opt2.zero_grad()
                loss = nn.functional.mse_loss(mine(xb), yb)
                loss.backward()
                seen.append(loss.item())
                return loss
            opt2.step(closure)
            firsts.append(seen[0])
            evals.append(len(seen))
    assert max(evals) > 1                            # LBFGS did re-evaluate within a step
    a, b = model.state_dict(), mine.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s["loss"] for s in h.steps] == pytest.approx(firsts, rel=1e-6)     # the closure's first evaluation
    assert h.epochs[-1]["loss"] < 0.1 * h.epochs[0]["loss"]


def test_lbfgs_from_a_spec_lowers_the_loss():
    spec = TrainSpec.from_dict({
        "data": {"dataset": "iris", "batch_size": 120},            # the whole training split: LBFGS is full-batch
        "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                             {"type": "Linear", "out_features": 3}]},
        "optim": {"type": "LBFGS", "lr": 0.5, "max_iter": 5},
        "loop": {"epochs": 4, "logdir": "", "checkpoint_dir": ""}})
    h = nbtrain.fit(spec, progress=False)
    assert h.epochs[-1]["loss"] < 0.5 * h.epochs[0]["loss"] and h.epochs[-1]["val_accuracy"] > 0.8


def test_lbfgs_with_fp16_is_one_clear_error():
    model = nn.Linear(4, 1)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=model, train=_problem(), optimizer=torch.optim.LBFGS(model.parameters()), loss="MSELoss",
                    metrics=["mae"], amp="fp16", progress=False)
    assert str(e.value) == ("loop.amp: LBFGS cannot train with amp 'fp16' (the GradScaler does not take a closure) "
                            "(set amp to 'off' or 'bf16')")
