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


# -- specs read from JSON: wrong types, missing keys, out of range (spec/) ------------------------------------------
SPEC_CASES = [
    ({"optim": {"type": "Adam", "groups": [{"pattern": "x", "lr": "a"}]}}, "optim.groups[0].lr: expected float or null, got 'a'"),
    ({"data": {"train_transforms": "x"}}, "data.train_transforms: expected list, got 'x'"),
    ({"loop": {"loss_params": 3}}, "loop.loss_params: expected object, got int"),
    ({"loop": {"run_name": 3}}, "loop.run_name: expected str, got int"),
    ({"model": {"layers": [3]}}, "model.layers[0]: expected object, got int"),
    ({"model": {"layers": [{}]}}, "model.layers[0]: missing 'type' (name a layer with 'type')"),
    ({"model": {"layers": [{"type": 3}]}}, "model.layers[0].type: expected str, got int"),
    ({"model": {"layers": [{"type": "TorchvisionModel", "weights": 3}]}}, "model.layers[0].weights: expected str, got int"),
    ({"data": {"train_transforms": [{"type": "ToTensor"}, {"type": "Normalize", "mean": [], "std": []}]}},
     "data.train_transforms[1].mean: expected a non-empty list of numbers, got [] (per-channel mean, one per channel "
     "(nbtrain.normalize_stats computes it))"),
    ({"optim": {"type": "Adam", "groups": [{"pattern": "x", "weight_decay": -1}]}},
     "optim.groups[0].weight_decay: must be >= 0, got -1"),
    ({"sched": {"type": "StepLR", "step_size": 1, "warmup": -1}}, "sched.warmup: must be >= 0, got -1"),
    ({"sched": {"type": "StepLR", "step_size": 1, "swa_anneal_epochs": 0}}, "sched.swa_anneal_epochs: must be >= 1, got 0"),
]


@pytest.mark.parametrize("d,says", SPEC_CASES, ids=[s.split(":")[0] for _, s in SPEC_CASES])
def test_a_wrong_spec_field_names_its_path(d, says):
    from nbtrain.spec import TrainSpec
    full = TrainSpec.default().to_dict()
    for k, v in d.items():
        full[k].update(v)
    assert _msg(lambda: TrainSpec.from_dict(full)) == says


def test_a_spec_that_is_no_object_or_a_huge_file_is_refused(tmp_path):
    from nbtrain.spec import TrainSpec
    assert _msg(lambda: TrainSpec.from_dict(3)) == "TrainSpec: expected object, got int"
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(10_000_001)                                      # sparse: no 10 MB written
    assert _msg(lambda: TrainSpec.load(big)) == f"{big}: spec file of 10,000,001 bytes is too big (a spec is a few " \
        "KB) (check the file is a spec saved by nbtrain (TrainSpec.to_json or `nbtrain spec`))"


# -- building: data, layers, schedules (build/) ---------------------------------------------------------------------
def test_data_that_cannot_be_split_or_read_says_why(tmp_path):
    from nbtrain.build.data.bundle import build_data
    from nbtrain.spec import DataSpec
    assert _msg(lambda: build_data(DataSpec.from_dict({"dataset": "iris", "val_split": 0.001}))) == \
        "data.val_split: val_split 0.001 of 150 samples leaves an empty split (choose a fraction that leaves " \
        "samples on both sides)"
    bad, empty = tmp_path / "bad.csv", tmp_path / "empty.csv"
    bad.write_bytes(b"a,b\n\xff\xfe,1\n")
    empty.write_text("\n\n")
    csv = lambda p: build_data(DataSpec.from_dict({"dataset": "csv", "path": str(p), "target": "b"}))
    assert _msg(lambda: csv(bad)) == f"{bad}: cannot read the file: 'utf-8' codec can't decode byte 0xff in " \
        "position 4: invalid start byte (give a UTF-8 CSV file, plain or gzip)"
    assert _msg(lambda: csv(empty)) == f"{empty}: no data rows (the file needs at least one row of values)"


def test_layers_and_schedules_torch_refuses_are_named():
    from nbtrain.build.model import build_model
    from nbtrain.build.optim import build_scheduler, lr_curve
    from nbtrain.spec import ModelSpec, OptimSpec, SchedSpec
    model = lambda layers, shape: build_model(ModelSpec.from_dict({"layers": layers}), shape)
    assert _msg(lambda: model([{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2,
                                "padding": "same"}], (1, 8, 8))) == "model.layers[0] (Conv2d): torch rejected the " \
        "parameters: padding='same' is not supported for strided convolutions (check the layer's parameters)"
    assert _msg(lambda: model([{"type": "Residual", "body": [{"type": "Flatten"}]}], (1, 4, 4))) == \
        "model.layers[0] (Residual): a auto shortcut needs (C, H, W) in and out, the body turns (1, 4, 4) into " \
        "(16,) (use shortcut 'auto' (a Linear for features) or 'identity')"
    assert _msg(lambda: model([{"type": "ReLU"}], (0,))) == "model.layers[0] (ReLU): output shape (0,) is empty " \
        "for input (0,) (make the kernel/window smaller or add padding)"       # a CSV with no feature column
    sched = lambda d, opt=None: build_scheduler(SchedSpec.from_dict(d), opt or torch.optim.SGD(
        nn.Linear(2, 2).parameters(), lr=0.1), 3, 4)
    assert _msg(lambda: sched({"type": "ReduceLROnPlateau", "warmup": 2})) == "sched.warmup: a warm-up cannot be " \
        "chained before ReduceLROnPlateau (SequentialLR does not feed it a metric) (set warmup to 0, or use " \
        "LinearLR then another scheduler)"
    assert _msg(lambda: sched({"type": "ReduceLROnPlateau", "factor": 1.0})) == "sched: torch.optim.lr_scheduler." \
        "ReduceLROnPlateau rejected the settings: Factor should be < 1.0. (check the scheduler's parameters)"
    assert _msg(lambda: lr_curve(OptimSpec(), SchedSpec(), 0, 4)) == \
        "lr_curve: epochs and steps_per_epoch must be >= 1, got 0 and 4"


def test_a_loss_that_cannot_take_the_output_names_both_shapes():
    m = nn.Linear(4, 3)
    assert _msg(lambda: nbtrain.fit(model=m, train=(torch.randn(8, 4), torch.randn(8, 5)), loss=nn.MSELoss(),
                                    epochs=1, progress=False, dashboard=False)) == \
        "loss: MSELoss cannot take the model's output (8, 3) with targets (8, 5) (The size of tensor a (3) must " \
        "match the size of tensor b (5) at non-singleton dimension 1) (make the last layer's output fit the " \
        "targets, or choose the loss for this target (nbtrain.spec.catalog.LOSSES))"


def test_processes_and_the_group_editor_refuse_what_they_cannot_take():
    from nbtrain.spec import TrainSpec
    from nbtrain.spec.trainspec import ParamGroupSpec
    from nbtrain.widgets.optimizer import GroupRow
    assert _msg(lambda: nbtrain.fit(processes=2)) == "fit(processes=...): processes= trains a TrainSpec, got " \
        "NoneType (give a TrainSpec or the path of a JSON spec: each worker builds its data and model from it)"
    assert _msg(lambda: nbtrain.fit(TrainSpec.default(), processes=2, bogus=1)).startswith(
        "fit: unknown argument 'bogus' (known: the LoopSpec fields amp, checkpoint_dir, device, ")
    row = GroupRow(ParamGroupSpec(pattern="fc*"))
    row.lr.value = "abc"
    assert row.error == "lr: cannot read 'abc' (type a number such as 1e-3, or leave it empty)"


# -- resuming from a checkpoint of another run (train/resume.py) ------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One epoch of a Linear(4, 2) with Adam and no scheduler: its last.pt (a few milliseconds)."""
    d = tmp_path_factory.mktemp("ck")
    nbtrain.fit(model=_net(), train=_xy(), epochs=1, checkpoint_dir=str(d), run_name="r", progress=False,
                dashboard=False, doctor=False)
    return d / "r" / "last.pt"


def _net():
    torch.manual_seed(0)
    return nn.Linear(4, 2)


def _resume(path, model=None, **kw):
    return lambda: nbtrain.fit(model=model or _net(), train=_xy(), resume=path, epochs=2, progress=False,
                               dashboard=False, doctor=False, **kw)


def test_resuming_with_other_parts_or_an_edited_file_says_what_differs(saved, tmp_path):
    ck = torch.load(saved, weights_only=True)
    edited = tmp_path / "e.pt"
    torch.save({**ck, "history": "{bad"}, edited)
    assert _msg(lambda: nbtrain.load_checkpoint(edited)) == f"{edited}: its run history is not readable JSON " \
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)) (the file is damaged; use " \
        "another one, e.g. best.pt or an earlier epoch_*.pt)"
    torch.save({k: v for k, v in ck.items() if k != "step"}, edited)
    assert _msg(_resume(edited)) == f"{edited}: the checkpoint has no step entry (the file was edited or cut; use " \
        "another one, e.g. best.pt or an earlier epoch_*.pt)"
    m = _net()
    two = torch.optim.Adam([{"params": [m.weight]}, {"params": [m.bias]}])
    assert _msg(_resume(saved, m, optimizer=two)) == f"{saved}: the checkpoint's optimizer has 1 param groups, this " \
        "run's has 2 (resume with the param groups (optim.groups) the checkpoint was saved with)"
    m = _net()
    says = _msg(_resume(saved, m, optimizer=torch.optim.SGD(m.parameters(), lr=0.1)))
    assert says.startswith(f"{saved}: the checkpoint's optimizer is another type (its group 0 has amsgrad, betas, ")
    assert "; this run's has dampening, " in says and says.endswith("(resume with the optimizer the checkpoint was "
                                                                     "saved with)")
    m = _net()
    assert _msg(_resume(saved, m, optimizer=torch.optim.Adam([m.weight]))) == f"{saved}: param group 0 holds 2 " \
        "tensors in the checkpoint and 1 in this run (resume with the same optim.groups patterns)"
    m = _net()
    opt = torch.optim.Adam(m.parameters())
    assert _msg(_resume(saved, m, optimizer=opt, scheduler=torch.optim.lr_scheduler.StepLR(opt, 1))) == \
        f"{saved}: the checkpoint's LR scheduler is none, this run's is one (resume with the scheduler the " \
        "checkpoint was saved with, or start a new run)"


# -- run folders, ranks, and the guards of the exporters -----------------------------------------------------------
def test_no_free_run_folder_and_a_rank_that_cannot_read_rank_0s_checkpoint(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from nbtrain.spec import LoopSpec
    from nbtrain.train import autoresume
    from nbtrain.train.rundirs import claim_run
    base = "20261207-000000"                                   # one second, 999 runs started in it already
    for name in [base] + [f"{base}-{k}" for k in range(2, 1000)]:
        (tmp_path / name).mkdir()
    ls = LoopSpec(logdir=str(tmp_path), checkpoint_dir="")
    assert _msg(lambda: claim_run(ls, clock=lambda fmt: base)) == f"loop.run_name: could not find a free run " \
        f"folder for '{base}' in {tmp_path} (give a run_name, or remove the runs of that second)"
    monkeypatch.setattr(torch.distributed, "broadcast_object_list",   # rank 0 chose a file on its own disk
                        lambda box, src=0: box.__setitem__(0, "/node0/ck/r/last.pt"))
    rank1 = SimpleNamespace(is_main=False, active=True, rank=1)
    assert _msg(lambda: autoresume.resolve("auto", LoopSpec(checkpoint_dir=str(tmp_path), run_name="r"), rank1)) \
        == "loop.checkpoint_dir: rank 1 cannot read /node0/ck/r/last.pt, the checkpoint rank 0 resumes from (put " \
        "checkpoint_dir on a file system every node shares)"


def test_the_exporters_refuse_what_would_break_the_script_or_the_page(tmp_path, monkeypatch):
    """Guards for the package's own code: a module emitted into a script that imports more than the error classes,
    a catalog dataset the exporter has no loader for, a front end that would end the page's <script> early."""
    import dataclasses
    from types import ModuleType, SimpleNamespace

    import nbtrain.sinks.dashboard.export as export
    from nbtrain.codegen.data import _loader, module_code
    from nbtrain.spec.catalog.datasets import DATASETS
    from nbtrain.train.history import History
    f = tmp_path / "fake.py"
    f.write_text('"""A module a script would carry."""\nfrom ..spec import TrainSpec\n')
    mod = ModuleType("nbtrain.train.fake")
    mod.__file__, mod.__package__ = str(f), "nbtrain.train"
    assert _msg(lambda: module_code(mod)) == "to_code: nbtrain.train.fake imports 'from ..spec import TrainSpec', " \
        "which an exported script cannot (keep the module to the standard library, torch and nbtrain.errors)"
    monkeypatch.setitem(DATASETS, "new", dataclasses.replace(DATASETS["digits"], name="new", tags=[]))
    assert _msg(lambda: _loader(SimpleNamespace(dataset="new"))) == "to_code: exporting the 'new' dataset as " \
        "plain PyTorch is not supported (use one of: " + ", ".join(sorted(DATASETS)) + ")"
    monkeypatch.setattr(export, "esm_source", lambda: "export default {}; // </script>")
    assert _msg(lambda: export.page(History())) == \
        "export_html: the dashboard's front end cannot be inlined (report this as a bug)"


def test_a_checkpoint_sink_given_a_folder_it_cannot_write_says_so(tmp_path):
    from nbtrain.sinks.checkpoint import Checkpoint
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    where = tmp_path / "notes.txt" / "ck"
    assert _msg(lambda: Checkpoint(where)) == \
        f"loop.checkpoint_dir: cannot write to '{where}' (Not a directory) (choose a folder you can write to)"
