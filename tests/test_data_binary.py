"""A binary task: a binary loss (BCEWithLogitsLoss, BCELoss: the catalog's tag) makes a two-class set's targets
float 0/1 of shape (N, 1); accuracy splits logits at 0 and probabilities at 0.5; fit trains the seed's diabetes
model from a headerless CSV."""
import pytest
import torch

import nbtrain as nb
from nbtrain import NbtrainError
from nbtrain.build.data import build_data
from nbtrain.spec import DataSpec, LayerSpec, LoopSpec, ModelSpec, OptimSpec, TrainSpec


def _csv(path, n=120, header=False):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 8, generator=g) * 2 - 1
    y = (x[:, 1] + 0.5 * x[:, 5] > 0).long()
    rows = "".join(",".join(f"{v:.5f}" for v in r) + f",{int(t)}\n" for r, t in zip(x.tolist(), y))
    path.write_text(("a,b,c,d,e,f,g,h,label\n" if header else "") + rows)
    return x, y


@pytest.mark.parametrize("loss", ["BCEWithLogitsLoss", "BCELoss"])
def test_a_binary_loss_makes_csv_targets_float_n_by_1(tmp_path, loss):
    x, y = _csv(tmp_path / "d.csv")
    spec = DataSpec(dataset="csv", path=str(tmp_path / "d.csv"), batch_size=16, standardize=False, shuffle=False)
    b = build_data(spec, loss=loss)
    assert (b.task, b.num_classes, b.class_names) == ("binary", 2, ["0", "1"])
    xb, yb = next(iter(b.train))
    assert yb.dtype == torch.float32 and yb.shape == (16, 1) and set(yb.flatten().tolist()) <= {0.0, 1.0}
    assert len(b.train.x) + len(b.val.x) == 120                       # no first row dropped: it is data
    plain = build_data(spec)                                          # no loss: class indices, as before
    assert plain.task == "classification" and next(iter(plain.train))[1].dtype == torch.int64
    spec.task = "binary"                                              # or asked for by data.task
    assert next(iter(build_data(spec).train))[1].shape == (16, 1)


def test_a_binary_loss_needs_two_classes():
    with pytest.raises(NbtrainError) as e:
        build_data(DataSpec(dataset="iris"), loss="BCEWithLogitsLoss")
    assert str(e.value) == ("loop.loss: a binary task needs 2 classes, iris has 3 (setosa, versicolor, virginica) "
                            "(use CrossEntropyLoss (one output per class) for more classes, or a dataset with two)")
    with pytest.raises(NbtrainError) as e:
        build_data(DataSpec(dataset="wine", task="binary"))
    assert str(e.value).startswith("data.task: a binary task needs 2 classes, wine has 3")
    assert build_data(DataSpec(dataset="breast_cancer"), loss=torch.nn.BCELoss()).task == "binary"


def test_the_seed_diabetes_model_trains_with_bceloss_and_threshold_accuracy(tmp_path):
    """Sigmoid outputs are probabilities: accuracy splits them at 0.5 (at 0 every sample would count as 1)."""
    _csv(tmp_path / "d.csv", n=200)
    layers = []
    for n in (6, 4, 1):
        layers += [LayerSpec("Linear", params={"out_features": n}), LayerSpec("Sigmoid")]
    spec = TrainSpec(data=DataSpec(dataset="csv", path=str(tmp_path / "d.csv"), batch_size=16),
                     model=ModelSpec(layers=layers), optim=OptimSpec("SGD", lr=1.0),
                     loop=LoopSpec(epochs=30, loss="BCELoss", logdir="", checkpoint_dir=""))
    hist = nb.fit(spec, progress=False, dashboard=False)
    last = hist.epochs[-1]
    assert last["loss"] < hist.epochs[0]["loss"] and last["val_accuracy"] > 0.8
    data = build_data(spec.data, loss="BCELoss")
    model = nb.build_model(spec.model, data.input_shape)
    xv, yv = data.val.x, data.val.y
    assert yv.shape == (40, 1)
    with torch.no_grad():                                             # an untrained model: sigmoid near 0.5
        out = model(xv)
    from nbtrain.train.metrics import accuracy_sum
    assert float(accuracy_sum(out, yv)) == float(yv.sum())           # split at 0, every sample counts as 1


def test_bce_with_logits_on_breast_cancer_learns():
    spec = TrainSpec(data=DataSpec(dataset="breast_cancer", batch_size=32),
                     model=ModelSpec(layers=[LayerSpec("Linear", params={"out_features": 1})]),
                     optim=OptimSpec("Adam", lr=0.01),
                     loop=LoopSpec(epochs=3, loss="BCEWithLogitsLoss", logdir="", checkpoint_dir=""))
    hist = nb.fit(spec, progress=False, dashboard=False)
    assert hist.epochs[-1]["val_accuracy"] > 0.9
