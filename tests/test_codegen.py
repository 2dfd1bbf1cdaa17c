"""to_code and the code snippets: exec'd, they build what nbtrain builds; the script reproduces fit()."""
import os
import re
import subprocess
import sys

import pytest
import torch

from nbtrain.build.model import build_model
from nbtrain.build.optim import build_optimizer, lr_curve
from nbtrain.codegen import optimizer_code, scheduler_code, to_code
from nbtrain.spec import DataSpec, LayerSpec, OptimSpec, ParamGroupSpec, SchedSpec, TrainSpec
from nbtrain.widgets.presets import mlp, named_cnn

# the script must reproduce fit()'s numbers to this relative tolerance (and 1e-6 absolute: it prints 6 decimals):
# same data split, batch order, initial weights, dropout draws, and the same step and schedule code (nbtrain.train.plain)
TOLERANCE = 1e-6


def _values(text: str) -> dict:
    return {k: float(v) for k, v in re.findall(r"(\w+) (-?[\d.]+(?:e-?\d+)?)", text)}


def _epoch_line(text: str, epoch: int = 1) -> dict:
    line = next(l for l in text.splitlines() if l.startswith(f"epoch {epoch}/"))
    return _values(line.split(": ", 1)[1])


@pytest.mark.slow
def test_script_reproduces_fit(tmp_path):
    """Two epochs of an MLP with BatchNorm and Dropout, OneCycleLR, a param group and SWA from epoch 1."""
    from nbtrain.train.loop import fit
    spec = TrainSpec.default()
    spec.model = mlp(10)
    spec.model.layers[2:2] = [LayerSpec("BatchNorm1d"), LayerSpec("Dropout", params={"p": 0.2})]
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 2, "", ""
    spec.sched = SchedSpec("OneCycleLR", params={"max_lr": 0.01}, swa=True, swa_start=1, swa_anneal_epochs=1)
    spec.optim.groups = [ParamGroupSpec("7", lr=3e-3)]
    hist = fit(spec, dashboard=False, progress=False)
    spec.loop.logdir, spec.loop.run_name = str(tmp_path / "runs"), "gen"
    script = tmp_path / "train.py"
    script.write_text(to_code(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for epoch in (1, 2):
        got, want = _epoch_line(out.stdout, epoch), hist.epochs[epoch - 1]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "lr_1"):
            assert got[key] == pytest.approx(want[key], rel=TOLERANCE, abs=1e-6), (epoch, key)
    swa = _values(out.stdout.split("swa: ", 1)[1].splitlines()[0])
    assert float(swa["swa_val_loss"]) == pytest.approx(hist.final["swa_val_loss"], rel=TOLERANCE)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tmp_path / "runs" / "gen")).Reload()
    assert [e.value for e in acc.Scalars("epoch/loss")] == pytest.approx([e["loss"] for e in hist.epochs], rel=TOLERANCE)
    assert "lr/group_1" in acc.Tags()["scalars"] and "weights/0.weight" not in acc.Tags()["histograms"]
    assert "weights/1.weight" in acc.Tags()["histograms"]


@pytest.mark.slow
def test_script_reproduces_fit_on_a_tabular_set(tmp_path):
    """iris: standardized with the training split's statistics, no transforms (an empty pipeline)."""
    from nbtrain.spec import ModelSpec
    from nbtrain.train.loop import fit
    spec = TrainSpec(data=DataSpec(dataset="iris", batch_size=16),
                     model=ModelSpec(layers=[LayerSpec("Linear", params={"out_features": 16}), LayerSpec("ReLU"),
                                             LayerSpec("Linear", params={"out_features": 3})]))
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 1, "", ""
    want = fit(spec, dashboard=False, progress=False).epochs[0]
    script = tmp_path / "train.py"
    script.write_text(to_code(spec))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    got = _epoch_line(out.stdout)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert got[key] == pytest.approx(want[key], rel=TOLERANCE, abs=1e-6), key


@pytest.mark.parametrize("optim", [
    OptimSpec("SGD", lr=0.1, params={"momentum": 0.9}),
    OptimSpec("AdamW", lr=1e-3, params={"weight_decay": 0.01},
              groups=[ParamGroupSpec("fc*", lr=1e-2), ParamGroupSpec("conv*", weight_decay=0.0)]),
])
def test_optimizer_code_builds_the_same_param_groups(optim):
    model = build_model(named_cnn(), (1, 28, 28))
    ref = build_optimizer(optim, model)
    scope = {"model": model}
    exec(optimizer_code(optim), scope)
    got = scope["optimizer"]
    assert type(got) is type(ref) and len(got.param_groups) == len(ref.param_groups)
    for a, b in zip(got.param_groups, ref.param_groups):
        assert [id(p) for p in a["params"]] == [id(p) for p in b["params"]]
        assert {k: a[k] for k in ("lr", "weight_decay")} == {k: b[k] for k in ("lr", "weight_decay")}


@pytest.mark.parametrize("sched", [
    SchedSpec("StepLR", params={"step_size": 2, "gamma": 0.5}, warmup=1),
    SchedSpec("OneCycleLR", params={"max_lr": 0.05}),
    SchedSpec("CosineAnnealingLR", warmup=3, interval="step"),
    SchedSpec("LambdaLR", params={"expr": "0.9 ** epoch"}),
    SchedSpec("LambdaLR", params={"preset": "inverse_sqrt"}),
])
def test_scheduler_code_gives_the_lr_curve(sched):
    epochs, steps = 5, 3
    optim = OptimSpec("SGD", lr=0.1)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    scope = {"optimizer": opt}
    exec(scheduler_code(sched, epochs, steps), scope)
    lrs = []
    for _ in range(epochs):
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if sched.per_step:
                scope["scheduler"].step()
        if not sched.per_step:
            scope["scheduler"].step()
    assert lrs == pytest.approx(lr_curve(optim, sched, epochs, steps)[0])


def _run_script(tmp_path, spec) -> str:
    script = tmp_path / "train.py"
    script.write_text(to_code(spec))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _same_epochs(stdout: str, hist, keys=("loss", "accuracy", "val_loss", "val_accuracy")):
    for epoch, want in enumerate(hist.epochs, 1):
        got = _epoch_line(stdout, epoch)
        for key in keys:
            assert got[key] == pytest.approx(want[key], rel=TOLERANCE, abs=1e-6), (epoch, key)


def _mlp(*sizes):
    from nbtrain.spec import ModelSpec
    layers = []
    for n in sizes:
        layers += [LayerSpec("Linear", params={"out_features": n}), LayerSpec("ReLU")]
    return ModelSpec(layers=layers[:-1])


@pytest.mark.slow
def test_script_reads_a_headerless_csv_as_fit_does(tmp_path):
    """The seed's diabetes shape: 8 numeric features and a 0/1 target, no header; standardized, 2 epochs."""
    from nbtrain.train.loop import fit
    g = torch.Generator().manual_seed(0)
    x = torch.randn(150, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 3] > 0).long()
    rows = [",".join(f"{v:.4f}" for v in r) + f",{int(t)}" for r, t in zip(x.tolist(), y)]
    (tmp_path / "diabetes.csv").write_text("\n".join(rows) + "\n")
    spec = TrainSpec(data=DataSpec(dataset="csv", path=str(tmp_path / "diabetes.csv"), header=False, batch_size=16),
                     model=_mlp(6, 4, 2), optim=OptimSpec("SGD", lr=0.1))
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 2, "", ""
    hist = fit(spec, dashboard=False, progress=False)
    _same_epochs(_run_script(tmp_path, spec), hist)


@pytest.mark.slow
def test_script_reads_an_image_folder_as_fit_does(tmp_path):
    """PNG files in one folder per class, read per sample by the DataLoader (fit's path too), implied ToTensor."""
    from PIL import Image

    from nbtrain.train.loop import fit
    g = torch.Generator().manual_seed(0)
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(10):
            px = torch.randint(0, 256, (8, 8, 3), dtype=torch.uint8, generator=g).numpy()
            Image.fromarray(px).save(tmp_path / "imgs" / c / f"{i}.png")
    spec = TrainSpec(data=DataSpec(dataset="image_folder", path=str(tmp_path / "imgs"), batch_size=4),
                     model=_mlp(2), optim=OptimSpec("SGD", lr=0.05))
    spec.model.layers.insert(0, LayerSpec("Flatten"))
    spec.model.layers.insert(2, LayerSpec("Dropout", params={"p": 0.3}))
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 2, "", ""
    hist = fit(spec, dashboard=False, progress=False)
    _same_epochs(_run_script(tmp_path, spec), hist)


def test_cli_export_prints_the_script(tmp_path, capsys):
    from nbtrain.cli import main
    spec = TrainSpec.default()
    spec.save(tmp_path / "spec.json")
    assert main(["export", str(tmp_path / "spec.json")]) == 0
    assert capsys.readouterr().out == to_code(spec)
    assert main(["export", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err == (f"nbtrain: error: {tmp_path / 'missing.json'}: spec file not found "
                                       "(give the path of a JSON spec (`nbtrain spec > spec.json`))\n")


@pytest.mark.parametrize("monitor, mode, want", [("val_accuracy", "auto", "max"), ("val_loss", "auto", "min"),
                                                 ("val_accuracy", "min", "min"), ("val_loss", "max", "max")])
def test_the_scripts_early_stopping_takes_the_mode_fit_takes(monitor, mode, want):
    """mode="auto" is resolved from the metric catalog as fit()'s EarlyStopping resolves it: the script's plain
    EarlyStop gets 'min' or 'max' (it refuses anything else)."""
    from nbtrain.sinks.early_stop import EarlyStopping
    spec = TrainSpec(data=DataSpec(dataset="iris"), model=_mlp(8, 3))
    spec.loop.monitor, spec.loop.mode, spec.loop.early_stopping = monitor, mode, 2
    assert f"{monitor!r}, 0.0, {want!r}, True\n" in to_code(spec)
    assert EarlyStopping(monitor, mode).mode == want


def test_transforms_snippet_is_the_pipeline():
    from torchvision import tv_tensors

    from nbtrain.build.data.pipeline import build_pipeline
    from nbtrain.codegen import transforms_snippet
    from nbtrain.spec import TransformSpec
    pipe = [TransformSpec("Resize", {"size": 20, "interpolation": "nearest"}), TransformSpec("ToTensor"),
            TransformSpec("Normalize", {"mean": [0.3], "std": [0.25]})]
    spec = DataSpec(train_transforms=pipe, val_transforms=pipe[1:])
    scope = {}
    exec(transforms_snippet(spec), scope)
    x = tv_tensors.Image(torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)))
    for name, specs in (("train_transform", spec.train_transforms), ("val_transform", spec.val_transforms)):
        want = build_pipeline(specs, name, allow_random=False)(x)
        got = scope[name](x)
        assert got.shape == want.shape and torch.equal(got.as_subclass(torch.Tensor), want)


def test_scheduler_code_has_one_factor_per_param_group():
    """Per-group LambdaLR factors: the canonical code of each checked expression, never the spec's text."""
    sched = SchedSpec("LambdaLR", params={"expr": ["0.9**epoch", "1/(epoch+1)"]})
    optim = OptimSpec("SGD", lr=0.1, groups=[ParamGroupSpec("x", lr=0.2)])
    code = scheduler_code(sched, 4, 1, groups=2)
    assert "return float(0.9 ** epoch)" in code and "return float(1.0 / (epoch + 1.0))" in code
    assert "lr_lambda=[lr_factor_0, lr_factor_1]" in code
    ps = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
    opt = torch.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.2}], lr=0.1)
    scope = {"optimizer": opt}
    exec(code, scope)
    lrs = [[], []]
    for _ in range(4):
        for g, c in zip(opt.param_groups, lrs):
            c.append(g["lr"])
        opt.step()
        scope["scheduler"].step()
    want = lr_curve(optim, sched, 4, 1)
    assert lrs[0] == pytest.approx(want[0]) and lrs[1] == pytest.approx(want[1])


def _diabetes_csv(path, n=160):
    """The seed's diabetes.csv shape: 8 features in [-1, 1] and a 0/1 label, no header."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 8, generator=g) * 2 - 1
    y = (x[:, 1] + 0.5 * x[:, 5] - 0.3 * x[:, 0] > 0).long()
    path.write_text("".join(",".join(f"{v:.6f}" for v in r) + f",{int(t)}\n" for r, t in zip(x.tolist(), y)))


@pytest.mark.slow
def test_the_seed_diabetes_model_trains_the_same_in_the_workbench_and_in_its_script(tmp_path, monkeypatch):
    """Seed 000's model (Linear 8-6-4-1, each with a Sigmoid, BCELoss, SGD) on a headerless CSV, set up through the
    Workbench's own widgets: Train gives the numbers the Show-code script prints, epoch by epoch."""
    from nbtrain.spec import ModelSpec
    from nbtrain.widgets import Workbench
    monkeypatch.chdir(tmp_path)
    _diabetes_csv(tmp_path / "diabetes.csv")
    wb = Workbench(preview=False, background=False)
    wb.data.train.set_value([])
    wb.data.val.set_value([])
    for k, v in {"dataset": "csv", "path": str(tmp_path / "diabetes.csv"), "standardize": False,
                 "batch_size": 32}.items():
        wb.data.fields.inputs[k].value = v
    layers = []
    for n in (6, 4, 1):
        layers += [LayerSpec("Linear", params={"out_features": n}), LayerSpec("Sigmoid")]
    wb.model.spec = ModelSpec(layers=layers)
    wb.optim.type.value = "SGD"
    wb.optim.lr.value = 0.5
    for k, v in {"loss": "BCELoss", "epochs": 3, "logdir": "", "checkpoint_dir": ""}.items():
        wb.loop.inputs[k].value = v
    assert wb.error == "" and wb.spec.data.header == "auto" and wb.model.output_shape == (1,)
    wb.train_button.click()
    hist = wb.history
    assert wb.status.value.startswith("done: ") and len(hist.epochs) == 3
    assert all(0 < e["loss"] < 1 and 0 < e["val_accuracy"] < 1 for e in hist.epochs)
    code = wb.show_code()
    assert "loss_fn = nn.BCELoss()" in code and "('accuracy', accuracy_sum, {'threshold': 0.5})" in code
    assert "train_base.y = binary_target(train_base.y)" in code
    stdout = _run_script(tmp_path, wb.spec)
    for epoch, want in enumerate(hist.epochs, 1):
        got = _epoch_line(stdout, epoch)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert got[key] == pytest.approx(want[key], rel=TOLERANCE, abs=1e-6), (epoch, key)


@pytest.mark.slow
def test_the_default_cnn_trains_the_same_in_fit_and_in_its_script(tmp_path):
    """TrainSpec.default()'s CNN on digits (14x14 to keep it short), gradient clipping and early stopping on: the
    script's epochs are fit()'s to 1e-6."""
    from nbtrain.train.loop import fit
    spec = TrainSpec.default()
    spec.data.image_size = 14
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 2, "", ""
    spec.loop.grad_clip, spec.loop.early_stopping = 1.0, 3
    hist = fit(spec, dashboard=False, progress=False)
    assert [l.type for l in spec.model.layers] == [l.type for l in TrainSpec.default().model.layers]
    _same_epochs(_run_script(tmp_path, spec), hist, keys=("loss", "accuracy", "val_loss", "val_accuracy", "lr"))


def test_to_code_emits_torchvision_models_and_residual_blocks():
    from nbtrain.widgets.presets import resnet_blocks
    spec = TrainSpec(data=DataSpec(dataset="synthetic", image_shape=[3, 16, 16], size=16, num_classes=4))
    spec.model.layers = [LayerSpec("TorchvisionModel", params={"arch": "resnet18", "num_classes": 4})]
    code = to_code(spec)
    assert "import torchvision\n" in code and \
        "torchvision.models.get_model('resnet18', weights=None, num_classes=4)," in code
    spec.model = resnet_blocks(4)
    code = to_code(spec)
    assert code.count("class Residual(nn.Module):") == 1 and "activation=nn.ReLU()," in code
    compile(code, "train.py", "exec")
