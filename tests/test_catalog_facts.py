"""Each fact about a component is read from its catalog entry: changing the entry's tag (or function) changes
what the loop, the first-batch checks, the feature capture and the doctor's question do, with no other edit."""
from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch
from loop_fixtures import tiny_cnn, tiny_data
from torch import nn

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.spec import catalog
from nbtrain.spec.catalog import LAYERS, LOSSES, METRICS, SCHEDULERS, TRANSFORMS
from nbtrain.train import features
from nbtrain.train.metrics import Accumulator
from nbtrain.train.steps import check_batch


def _retag(monkeypatch, table, name, add=(), remove=()):
    e = table[name]
    monkeypatch.setitem(table, name, dataclasses.replace(e, tags=(e.tags | set(add)) - set(remove)))


# -- per-step schedulers -----------------------------------------------------------------------------
def _lr_after_one_epoch() -> float:
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    tr, _ = tiny_data()                                  # 72 samples, batches of 16: 5 steps an epoch
    nbtrain.fit(model=model, train=tr, optimizer=opt, scheduler=sched, epochs=1, progress=False, dashboard=False)
    return opt.param_groups[0]["lr"]


def test_the_per_step_tag_decides_how_often_the_loop_steps_a_users_scheduler(monkeypatch):
    assert not catalog.is_per_step(torch.optim.lr_scheduler.StepLR(torch.optim.SGD([nn.Parameter(torch.zeros(1))]), 1))
    assert _lr_after_one_epoch() == 0.5                     # per epoch: stepped once
    _retag(monkeypatch, SCHEDULERS, "StepLR", add=["per_step"])
    assert _lr_after_one_epoch() == 0.5 ** 5                # tagged per_step: after each of the 5 batches


def test_onecycle_and_cyclic_are_per_step_by_their_tag():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sch = torch.optim.lr_scheduler
    assert catalog.is_per_step(sch.OneCycleLR(opt, max_lr=1.0, total_steps=10))
    assert catalog.is_per_step(sch.CyclicLR(opt, 0.01, 0.1))
    assert not catalog.is_per_step(sch.ExponentialLR(opt, 0.9)) and not catalog.is_per_step(None)


# -- loss kinds ----------------------------------------------------------------------------------------
def test_the_kind_tag_of_the_losss_entry_decides_check_batch(monkeypatch):
    out, y_idx = torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(NbtrainError) as e:
        check_batch(out, y_idx, nn.MSELoss())
    assert str(e.value) == ("loss: MSELoss needs float targets shaped like the output (4, 3), got int64 class "
                            "indices of shape (4,) (use CrossEntropyLoss for classification, or a float regression "
                            "target)")
    _retag(monkeypatch, LOSSES, "MSELoss", remove=["regression"])
    check_batch(out, y_idx, nn.MSELoss())                     # no kind: nothing to check
    _retag(monkeypatch, LOSSES, "MSELoss", add=["classification"])
    with pytest.raises(NbtrainError) as e:                    # now it is checked as a classification loss
        check_batch(out, torch.tensor([0, 1, 2, 5]), nn.MSELoss())
    assert str(e.value) == ("model (last layer): the model outputs 3 values per sample but the targets go up to "
                            "class 5 (set the last layer's out_features to 6)")


def test_loss_kind_reads_every_loss_entry():
    for name, e in LOSSES.items():
        kinds = [k for k in catalog.LOSS_KINDS if k in e.tags]
        assert catalog.loss_kind(e.build()) == (kinds[0] if kinds else ""), name
    assert catalog.loss_kind(nn.HuberLoss()) == "regression" and catalog.loss_kind(nn.KLDivLoss()) == ""


# -- metrics -------------------------------------------------------------------------------------------
def test_the_accumulator_calls_the_metric_entrys_function(monkeypatch):
    acc = Accumulator(["accuracy", "topk_accuracy", "mae"], topk=2)
    assert [fn for fn, _ in acc.fns] == [METRICS[m].build for m in ("accuracy", "topk_accuracy", "mae")]
    calls = []

    def hits(out, y, threshold=0.0):
        calls.append(out.shape)
        return torch.tensor(7.0)
    monkeypatch.setitem(METRICS, "accuracy", dataclasses.replace(METRICS["accuracy"], build=hits))
    acc = Accumulator(["accuracy"])
    acc.update(torch.tensor(0.5), torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    assert calls == [(4, 3)] and acc.read()["accuracy"] == 7.0


def test_binary_losses_and_their_accuracy_threshold_are_catalog_facts(monkeypatch):
    """BCELoss takes probabilities (tag probs): accuracy splits them at 0.5; BCEWithLogitsLoss's logits at 0."""
    assert catalog.loss_kind(nn.BCELoss()) == catalog.loss_kind("BCEWithLogitsLoss") == "binary"
    assert catalog.binary_threshold(nn.BCELoss()) == catalog.binary_threshold("BCELoss") == 0.5
    assert catalog.binary_threshold(nn.BCEWithLogitsLoss()) == catalog.binary_threshold("CrossEntropyLoss") == 0.0
    probs, y = torch.tensor([[0.9], [0.2], [0.4], [0.7]]), torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    assert METRICS["accuracy"].build(probs, y, threshold=0.5).item() == 4.0
    assert METRICS["accuracy"].build(probs, y).item() == 2.0                # at 0 every probability is "1"
    acc = Accumulator(["accuracy"], threshold=0.5)
    acc.update(torch.tensor(0.3), probs, y)
    assert acc.read()["accuracy"] == 4.0
    _retag(monkeypatch, LOSSES, "BCELoss", remove=["probs"])
    assert catalog.binary_threshold(nn.BCELoss()) == 0.0


def test_check_batch_names_the_binary_target_shape():
    with pytest.raises(NbtrainError) as e:
        check_batch(torch.zeros(4, 1), torch.tensor([0, 1, 1, 0]), nn.BCEWithLogitsLoss())
    assert str(e.value) == ("loss: BCEWithLogitsLoss needs float 0/1 targets shaped like the output (4, 1), got int64 "
                            "targets of shape (4,) (give y.float().reshape(-1, 1) with one output per sample, or "
                            "CrossEntropyLoss for class indices)")
    check_batch(torch.zeros(4, 1), torch.zeros(4, 1), nn.BCELoss())


def test_each_optimizer_starts_from_its_own_default_lr():
    """torch's default lr, read from its signature (Adadelta 1.0, not the 1e-3 every type used to share); SGD 0.01."""
    want = {"Adadelta": 1.0, "Adagrad": 0.01, "Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 0.01, "LBFGS": 1.0,
            "SGD": 0.01, "Rprop": 0.01, "Adamax": 0.002, "NAdam": 0.002}
    assert {n: catalog.default_lr(n) for n in want} == want
    for name, e in catalog.OPTIMIZERS.items():
        if name != "SGD":
            assert e.lr == inspect.signature(e.build).parameters["lr"].default, name
    with pytest.raises(NbtrainError) as e:
        catalog.default_lr("Adamm")
    assert str(e.value).startswith("optim.type: unknown optimizer 'Adamm'")
    assert "closure" in catalog.OPTIMIZERS["LBFGS"].tags


def test_metric_functions_are_on_device_sums():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(10, 5, generator=g), torch.randint(0, 5, (10,), generator=g)
    acc = METRICS["accuracy"].build(out, y)
    assert acc.ndim == 0 and acc.item() == (out.argmax(1) == y).sum().item()
    assert METRICS["topk_accuracy"].build(out, y, k=5).item() == 10
    assert METRICS["mae"].build(torch.ones(3, 2), torch.zeros(3, 2)).item() == 3.0
    binary = METRICS["accuracy"].build(torch.tensor([2.0, -1.0, 3.0]), torch.tensor([1.0, 0.0, 0.0]))
    assert binary.item() == 2.0


def test_metric_functions_run_from_their_own_source():
    """What the exported script carries (inspect.getsource): self-contained, torch only."""
    g = torch.Generator().manual_seed(1)
    out, y = torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g)
    targets = {"mae": torch.randn(6, 4, generator=g)}
    for name, e in METRICS.items():
        ns = {"torch": torch}
        exec(inspect.getsource(e.build), ns)
        yy = targets.get(name, y)
        assert torch.equal(ns[e.build.__name__](out, yy), e.build(out, yy)), name


# -- random transforms ---------------------------------------------------------------------------------
def test_is_random_reads_the_transform_tag(monkeypatch):
    assert [n for n in TRANSFORMS if catalog.is_random(n)] == [n for n, e in TRANSFORMS.items() if "random" in e.tags]
    assert catalog.is_random("RandomCrop") and not catalog.is_random("Normalize")
    assert catalog.is_random("AutoAugment") and catalog.is_random("RandomPerspective")   # torchvision, not listed
    assert not catalog.is_random("Lambda")
    _retag(monkeypatch, TRANSFORMS, "Normalize", add=["random"])
    assert catalog.is_random("Normalize")


# -- conv layers ---------------------------------------------------------------------------------------
def test_conv_layers_are_the_layers_tagged_conv(monkeypatch):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.LazyConv2d(2, 3), nn.Flatten(), nn.Linear(2, 2),
                          nn.Sequential(nn.Conv1d(1, 1, 1)))
    assert features.conv_layers(model) == ["0", "1", "4.0"]          # LazyConv2d is a Conv2d; nested found
    _retag(monkeypatch, LAYERS, "Linear", add=["conv"])
    assert features.conv_layers(model) == ["0", "1", "3", "4.0"]
    _retag(monkeypatch, LAYERS, "Conv2d", remove=["conv"])
    assert features.conv_layers(model) == ["3", "4.0"]
