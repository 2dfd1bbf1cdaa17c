"""fit(model=..., train=(x, y), val=(xv, yv)): the user's tensors take the fast in-memory path, with the batches
of the seeded DataLoader(TensorDataset(x, y)) it replaces."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nbtrain as nb
from nbtrain.build.data.fast import DEFAULT_BATCH_SIZE, FastLoader, tensor_loader


def _data(n=150, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def _batches(loader, epochs=2):
    return [[(x.clone(), y.clone()) for x, y in loader] for _ in range(epochs)]


def _assert_same(a, b):
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb)
        for (xa, ya), (xb, yb) in zip(ea, eb):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
            assert xa.dtype == xb.dtype and ya.dtype == yb.dtype


@pytest.mark.parametrize("bs,drop_last", [(64, False), (32, True), (7, False)])
def test_shuffled_batches_equal_seeded_dataloader(bs, drop_last):
    x, y = _data()
    ref = DataLoader(TensorDataset(x, y), bs, shuffle=True, drop_last=drop_last,
                     generator=torch.Generator().manual_seed(5))
    fast = tensor_loader(x, y, bs, shuffle=True, generator=torch.Generator().manual_seed(5), drop_last=drop_last)
    assert len(fast) == len(ref)
    got, want = _batches(fast), _batches(ref)
    _assert_same(got, want)
    assert not torch.equal(got[0][0][1], got[1][0][1])          # the two epochs are shuffled differently


def test_val_batches_in_order_and_same_global_rng_draws():
    x, y = _data(100)
    torch.manual_seed(3)
    want = _batches(DataLoader(TensorDataset(x, y), 64))
    after_ref = torch.rand(3)
    torch.manual_seed(3)
    got = _batches(tensor_loader(x, y, 64))
    _assert_same(got, want)
    assert torch.equal(got[0][0][0], x[:64])
    assert torch.equal(torch.rand(3), after_ref)   # the global RNG moved as the DataLoader moves it


def _model():
    torch.manual_seed(11)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def test_fit_with_tensors_uses_fast_path_and_equals_dataloader_fit():
    x, y = _data(200)
    xv, yv = _data(70, seed=2)
    kw = {"epochs": 2, "seed": 4, "dashboard": False, "progress": False, "log_every": 2}
    seen = {}

    class Spy(nb.Callback):
        def on_fit_start(self, state):
            seen["train"], seen["val"] = state.train_loader, state.val_loader

    m1 = _model()
    h1 = nb.fit(model=m1, train=(x, y), val=(xv, yv), callbacks=[Spy()], **kw)
    assert isinstance(seen["train"], FastLoader) and isinstance(seen["val"], FastLoader)
    assert seen["train"].batch_size == DEFAULT_BATCH_SIZE == 64 and len(seen["train"]) == 4
    m2 = _model()
    train = DataLoader(TensorDataset(x, y), 64, shuffle=True, generator=torch.Generator().manual_seed(4))
    h2 = nb.fit(model=m2, train=train, val=DataLoader(TensorDataset(xv, yv), 64), **kw)
    assert h1.epochs == h2.epochs and h1.steps == h2.steps
    assert len(h1.epochs) == 2 and "val_loss" in h1.epochs[0]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_fit_tensor_pair_errors():
    x, y = _data(20)
    with pytest.raises(nb.NbtrainError) as e:
        nb.fit(model=_model(), train=(x, y[:10]), epochs=1, dashboard=False, progress=False)
    assert str(e.value) == ("fit(train=(x, y)): x and y must have as many samples, got 20x1x6x6 and 10 "
                            "(give one target per sample: len(x) == len(y))")
    with pytest.raises(nb.NbtrainError) as e:
        nb.fit(model=_model(), train=(x, y), val=(x, [0, 1]), epochs=1, dashboard=False, progress=False)
    assert str(e.value) == ("fit(val=(x, y)): y must be a torch.Tensor, got list "
                            "(pass tensors, e.g. torch.as_tensor(array), or a DataLoader)")
