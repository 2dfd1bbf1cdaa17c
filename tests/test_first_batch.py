"""A user's model that does not fit its data fails at the first training step with one ShapeError naming the layer,
the shape it got and the fix; watching that step costs no extra forward. A spec built in Python is checked as its
JSON file would be."""
import copy
import json

import pytest
import torch
from loop_fixtures import tiny_cnn, tiny_data
from test_loop_spec import small_spec
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nbtrain
from nbtrain import NbtrainError
from nbtrain.spec import OptimSpec, TrainSpec


def _fit_error(model, img=True, n=96, batch=16, drop_last=False) -> str:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 6, 6, generator=g) if img else torch.randn(n, 8, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    tr = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, drop_last=drop_last,
                    generator=torch.Generator().manual_seed(1))
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=model, train=tr, epochs=1, progress=False, doctor=False)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())   # the watch is gone
    return str(e.value)


def test_linear_after_conv_without_flatten_is_named_with_the_fix():
    got = _fit_error(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Linear(10, 3)))
    assert got == ("layer 2 (Linear): gets a 4-D input of shape (16, 4, 6, 6), but Linear takes (batch, features) "
                   "rows (add Flatten before it; in_features should then be 144)")


def test_linear_after_conv_whose_in_features_happen_to_fit_is_named_not_the_loss():
    """in_features equal to the image width (what 'auto' reads off a 4-D input): the forward passes, the loss
    would fail with 'only batches of spatial targets supported'."""
    got = _fit_error(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Linear(6, 3)))
    assert got == ("layer 2 (Linear): gets a 4-D input of shape (16, 4, 6, 6), so the model outputs (16, 4, 6, 3), "
                   "but CrossEntropyLoss needs (batch, classes) (add Flatten before it; in_features should then be "
                   "144)")


def test_linear_with_the_wrong_in_features_says_the_right_one():
    got = _fit_error(nn.Sequential(nn.Flatten(), nn.Linear(100, 3)))
    assert got == ("layer 1 (Linear): gets input of shape (16, 36), but its in_features is 100 (in_features should "
                   "be 36 (or 'auto' in a spec))")


def test_a_conv_that_does_not_fit_the_datas_channels_is_named():
    got = _fit_error(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(64, 3)))
    assert got == ("layer 0 (Conv2d): gets input of shape (16, 1, 6, 6) with 1 channel, but its in_channels is 3 "
                   "(in_channels should be 1)")


class Branch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(8, 5)

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_a_users_block_that_fails_inside_its_forward_is_named_with_torchs_reason():
    got = _fit_error(nn.Sequential(Branch(), nn.Linear(4, 3)), img=False)
    assert got.startswith("layer 0 (Branch): cannot take its input of shape (16, 8) (The size of tensor a (4) must "
                          "match the size of tensor b (5) at non-singleton dimension 1) (make the layer's sizes fit")


def _bn_model():
    return nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def test_batchnorm_with_a_batch_of_one_is_named():
    got = _fit_error(_bn_model(), img=False, batch=1)
    assert got == ("layer 1 (BatchNorm1d): gets a batch of 1 sample (input (1, 6)) in training, and BatchNorm needs "
                   "more than 1 value per channel (use a batch size above 1 (and drop_last=True if the last batch "
                   "could hold a single sample))")


def test_batchnorm_with_a_last_batch_of_one_is_caught_at_the_first_step():
    got = _fit_error(_bn_model(), img=False, n=33, batch=16)          # 16 + 16 + 1
    assert got == ("layer 1 (BatchNorm1d): the last training batch holds 1 sample, and BatchNorm needs more than 1 "
                   "value per channel in training (set drop_last=True (data.drop_last in a spec, "
                   "DataLoader(drop_last=True) for your own loader), or choose a batch size that does not leave a "
                   "single sample)")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(33, 8, generator=g), torch.randint(0, 3, (33,), generator=g)
    tr = DataLoader(TensorDataset(x, y), batch_size=16, drop_last=True)
    assert len(nbtrain.fit(model=_bn_model(), train=tr, epochs=1, progress=False).epochs) == 1


def test_watching_the_first_step_costs_no_extra_forward_and_changes_nothing():
    """BatchNorm counts its training forwards: fit's must equal a hand-written loop's, and so must every weight."""
    model = tiny_cnn(dropout=0.0)
    mine = copy.deepcopy(model)
    tr, va = tiny_data()
    nbtrain.fit(model=model, train=tr, val=va, epochs=2, progress=False)
    opt = torch.optim.Adam(mine.parameters(), lr=1e-3)
    tr, _ = tiny_data()
    torch.manual_seed(0)
    for _ in range(2):
        for x, y in tr:
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(mine(x), y).backward()
            opt.step()
    assert int(model[1].num_batches_tracked) == int(mine[1].num_batches_tracked) == 2 * len(tr)
    a, b = model.state_dict(), mine.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


# -- a spec built in Python is checked as its JSON file is --------------------------------------------------------
def _message(fn) -> str:
    with pytest.raises(NbtrainError) as e:
        fn()
    return str(e.value)


def test_adam_betas_of_one_value_built_in_python_is_the_json_files_error(tmp_path):
    spec = small_spec(epochs=1)
    spec.optim = OptimSpec(type="Adam", lr=0.01, params={"betas": [0.9]})
    spec.save(tmp_path / "s.json")
    from_file = _message(lambda: TrainSpec.load(tmp_path / "s.json"))
    assert _message(lambda: nbtrain.fit(spec, progress=False)) == from_file == (
        "optim.betas: expected a list of 2 numbers, got 1: [0.9] ([beta1, beta2]: decay rates of the running averages)")


@pytest.mark.parametrize("value, what", [(float("nan"), "expected a number, got nan (give a finite number)"),
                                         (float("inf"), "expected a finite number, got inf (give a finite number; "
                                                        "JSON's 1e999 reads as inf)")])
def test_a_non_finite_lr_built_in_python_is_refused_by_fit(value, what):
    spec = small_spec(epochs=1)
    spec.optim.lr = value
    got = _message(lambda: nbtrain.fit(spec, progress=False))
    assert got == _message(lambda: TrainSpec.from_dict(json.loads(spec.to_json()))) == f"optim.lr: {what}"
