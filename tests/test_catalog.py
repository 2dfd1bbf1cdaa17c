import inspect

import pytest

from nbtrain.spec import catalog
from nbtrain.spec.catalog import REQUIRED

TABLES = [catalog.LAYERS, catalog.INITS, catalog.OPTIMIZERS, catalog.SCHEDULERS, catalog.LOSSES, catalog.TRANSFORMS]


def test_required_entries_present():
    assert set(catalog.LAYERS) >= {"Linear", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
                                   "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Dropout2d", "Flatten",
                                   "ReLU", "LeakyReLU", "GELU", "ELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
                                   "Identity"}
    assert set(catalog.INITS) >= {"xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "uniform",
                                  "normal", "constant", "eye", "orthogonal", "sparse", "zeros"}
    assert set(catalog.OPTIMIZERS) >= {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "ASGD",
                                       "Rprop", "NAdam", "RAdam"}
    assert set(catalog.SCHEDULERS) >= {"StepLR", "MultiStepLR", "ExponentialLR", "LambdaLR", "MultiplicativeLR",
                                       "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR",
                                       "ReduceLROnPlateau", "LinearLR"}
    assert set(catalog.LOSSES) >= {"CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss",
                                   "BCEWithLogitsLoss"}
    assert set(catalog.METRICS) >= {"accuracy", "topk_accuracy", "mae"}
    assert {"momentum", "dampening", "nesterov", "weight_decay"} <= {p.name for p in catalog.OPTIMIZERS["SGD"].params}


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.kind)
def test_no_default_differs_from_torch(table):
    """Where torch's signature has a default, the catalog's is exactly it (tuples as lists)."""
    checked = 0
    for e in table.values():
        if "block" in e.tags:       # Residual's arguments are modules; the spec's are the layers that make them
            continue
        target = e.build.__init__ if inspect.isclass(e.build) else e.build
        try:
            sig = inspect.signature(target).parameters
        except (TypeError, ValueError):
            continue
        for p in e.params:
            if p.name in sig and sig[p.name].default is not inspect.Parameter.empty:
                want = sig[p.name].default
                want = list(want) if isinstance(want, tuple) else want
                assert p.default == want, f"{table.kind} {e.name}.{p.name}: {p.default!r} != torch's {want!r}"
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.kind)
def test_every_param_has_help_and_a_known_kind(table):
    for e in table.values():
        assert e.help, e.name
        for p in e.params:
            assert p.help and p.kind in catalog.params.KINDS, (e.name, p.name)
            if p.default is not REQUIRED and p.default is not None and p.kind not in ("expr",):
                p.check(p.default, f"{e.name}.{p.name}")  # defaults pass their own validation


def test_param_check_messages():
    lr = catalog.Param("lr", "float", 1e-3, "learning rate", low=0, low_open=True)
    assert lr.check(1, "x") == 1.0
    with pytest.raises(catalog.params.SpecError) as e:
        lr.check(True, "optim.lr")
    assert str(e.value) == "optim.lr: expected float, got bool"


def test_no_parameter_shares_a_name_with_its_specs_own_fields():
    """A component is written flat ({"type": ..., "name": ..., **params}): a parameter called like a field of its
    spec (a layer's ``name``) would be read back as that field."""
    import dataclasses

    from nbtrain.spec import LayerSpec, OptimSpec, SchedSpec, TransformSpec
    for table, spec in ((catalog.LAYERS, LayerSpec), (catalog.TRANSFORMS, TransformSpec),
                        (catalog.OPTIMIZERS, OptimSpec), (catalog.SCHEDULERS, SchedSpec)):
        own = {f.name for f in dataclasses.fields(spec)} - {"params"}
        assert [(e.name, p.name) for e in table.values() for p in e.params if p.name in own] == [], table.kind
