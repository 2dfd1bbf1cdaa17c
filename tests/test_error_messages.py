"""Errors no other test reached (tools/untested_errors.py lists them): each triggered the way a user meets it, and its
whole message asserted. Builds only, no training: each case takes milliseconds."""
import pytest
import torch
from torch import nn

import nbtrain
from nbtrain.errors import NbtrainError


def _msg(fn) -> str:
    with pytest.raises(NbtrainError) as e:
        fn()
    return str(e.value)


def _xy(n=8):
    return torch.randn(n, 4), torch.arange(n) % 2


# -- fit(): a beginner's parts (build/parts.py) ------------------------------------------------------------------------
def test_fit_with_missing_or_wrong_parts_says_what_to_pass():
    m = nn.Linear(4, 2)
    assert _msg(lambda: nbtrain.fit(train=_xy())) == \
        "fit: no model (give a TrainSpec, or model= with train= (or data=))"
    assert _msg(lambda: nbtrain.fit(model="mlp", train=_xy())) == \
        "fit(model=...): model must be a torch.nn.Module, got str"
    assert _msg(lambda: nbtrain.fit(model=m)) == \
        "fit: no training data (pass train=DataLoader(...) or data=build_data(spec.data))"
    assert _msg(lambda: nbtrain.fit(model=m, train=iter([_xy()]))) == \
        "fit(train=...): the training data has no len() (pass a DataLoader or another iterable of (x, y) batches " \
        "with len())"
    assert _msg(lambda: nbtrain.fit(model=m, train=[])) == \
        "fit(train=...): the training data has no batches (check the dataset and batch_size)"
    assert _msg(lambda: nbtrain.fit(model=m, train=_xy(), loss=3)) == \
        "loss: expected a loss name, an nn.Module or a function, got int (e.g. loss='CrossEntropyLoss' or " \
        "loss=torch.nn.MSELoss())"
    assert _msg(lambda: nbtrain.fit(model=m, train=(torch.zeros(0, 4), torch.zeros(0)))) == \
        "fit(train=(x, y)): no samples (pass tensors with at least one sample)"


# -- settings, expressions, exported code, helpers ---------------------------------------------------------------------
def test_devices_expressions_and_export_values_name_the_fix():
    from nbtrain.codegen.literals import kwargs_code, py
    from nbtrain.codegen.snippets import optimizer_code
    from nbtrain.env import pick_device
    from nbtrain.spec import TrainSpec
    from nbtrain.spec.expr import compile_expr, parse, texts
    assert _msg(lambda: pick_device("gpu")) == "loop.device: unknown device 'gpu' (use auto, cpu, cuda, cuda:1 or mps)"
    if not torch.backends.mps.is_available():
        assert _msg(lambda: pick_device("mps")) == \
            "loop.device: mps is not available on this machine (use device 'auto' or 'cpu')"
    assert _msg(lambda: parse(3)) == "expr: expected str, got int (write an expression of epoch)"
    assert _msg(lambda: parse("1+" * 600 + "1")) == "expr: the expression has 1201 characters (keep it under 1000)"
    assert _msg(lambda: parse("0.95 **")) == \
        "expr: cannot parse '0.95 **': invalid syntax (write an expression of epoch, e.g. '0.95 ** epoch')"
    assert _msg(lambda: parse("-" * 300 + "epoch")) == \
        f"expr: {'-' * 77!r}... nests deeper than 200 levels (write a flatter expression)"
    assert _msg(lambda: compile_expr("1 / epoch")) == \
        "expr: '1 / epoch' fails at epoch 0 or 1: float division by zero (make it defined for every epoch >= 0)"
    assert _msg(lambda: texts({}, "sched.params")) == \
        "sched.params: needs an expr or a preset (set expr, e.g. '0.95 ** epoch', or a preset)"
    assert _msg(lambda: py(float("nan"))) == "to_code: nan cannot be exported (give a finite number)"
    assert _msg(lambda: py(object())) == "to_code: a object value cannot be exported (use JSON values only)"
    assert _msg(lambda: kwargs_code({"bad key": 1})) == \
        "to_code: 'bad key' is not a parameter name (use the catalog's parameter names)"
    assert _msg(lambda: optimizer_code(TrainSpec.default().optim, "my model")) == \
        "optimizer_code: 'my model' is not a variable name (pass a Python identifier)"
    assert _msg(lambda: TrainSpec.from_dict({"optim": {"type": "Adam", "groups": [{"pattern": ""}]}})) == \
        "optim.groups[0].pattern: empty pattern (name the layers, e.g. 'fc*' or '0')"


def test_tools_called_without_what_they_need_say_so():
    from nbtrain.build.data.stats import normalize_stats, sample_grid
    from nbtrain.spec import TrainSpec
    from nbtrain.train.history import History
    from nbtrain.train.insight import plot_confusion, plot_residuals
    assert _msg(lambda: normalize_stats(42)) == "normalize_stats: cannot compute statistics of a int (pass a DataSpec, " \
        "a Dataset of (x, y) or a tensor (N, C, H, W))"
    assert _msg(lambda: sample_grid(TrainSpec.default().data, n=0)) == \
        "sample_grid: n must be >= 1, got 0 (ask for at least one sample)"
    assert _msg(lambda: nbtrain.lr_find()) == \
        "lr_find: needs a spec, or a model and data (call lr_find(spec) or lr_find(model=..., data=...))"
    assert _msg(lambda: nbtrain.lr_find(model=nn.Linear(4, 2), data=[_xy(4)], num_steps=1)) == \
        "lr_find: num_steps must be >= 2, got 1"
    assert _msg(lambda: plot_confusion(History())) == "plot_confusion(run): the run has no confusion matrix (it is " \
        "collected while validating a classification run: give validation data)"
    assert _msg(lambda: plot_residuals(History())) == "plot_residuals(run): the run has no residuals (they are " \
        "collected while validating a regression run (MSELoss, L1Loss...))"


def test_a_missing_optional_package_or_an_unwritable_out_folder_says_what_to_do(monkeypatch):
    import importlib
    import sys
    from pathlib import Path

    from nbtrain.cli import _make_dir
    from nbtrain.sinks.tensorboard import _writer
    assert _msg(lambda: _make_dir(Path("/proc/nbtrain-test/out"))) == \
        "--out /proc/nbtrain-test/out: cannot create the folder: No such file or directory (give a folder you can " \
        "write to)"
    monkeypatch.setitem(sys.modules, "tensorboardX", None)          # import fails as when it is not installed
    assert _msg(lambda: _writer("unused")) == "loop.logdir: tensorboardX is not installed (pip install " \
        "tensorboardX, or set logdir='' to run without TensorBoard)"
    for k in [k for k in sys.modules if k.split(".")[0] == "ipywidgets" or k.startswith("nbtrain.widgets")]:
        monkeypatch.delitem(sys.modules, k)                         # put back after the test
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    assert _msg(lambda: importlib.import_module("nbtrain.widgets")) == \
        "nbtrain.widgets: ipywidgets is not installed (pip install 'ipywidgets>=7.7')"
