"""A spec is shared like a document: every text field of it is exported as data, never as code.

The hostile strings below try to end a docstring, a string literal or a comment and run a command. The spec
carrying them in its paths, column names, delimiter, layer names, group pattern, logdir, run_name, monitors
and checkpoint_dir is exported and the script is run: it trains, writes its TensorBoard files into the
hostile folder, and no PWNED file appears. The script's syntax tree equals a benign spec's, strings aside.
"""
import ast
import csv
import inspect
import os
import subprocess
import sys

import pytest
import torch

from nbtrain.build.data import csvfile, plain
from nbtrain.codegen import to_code
from nbtrain.errors import NbtrainError
from nbtrain.spec import DataSpec, LayerSpec, ModelSpec, OptimSpec, ParamGroupSpec, SchedSpec, TrainSpec
from nbtrain.train import metrics

H1 = 'x"""\nimport os; os.system("touch PWNED")\n"""'
H2 = "'; __import__('os').system('touch PWNED') #"
H3 = 'n"""\nopen("PWNED", "w")\n"""\\'         # layer names may not hold dots
H4 = "m'\nopen('PWNED', 'w')#\\\r\t"
EXPRS = ["0.9 ** epoch", "1 / (epoch + 1)"]


def _spec(root, strings) -> TrainSpec:
    a, b, c, d = strings
    data = DataSpec(dataset="csv", path=str(root / a / f"{b}.csv"), delimiter="'", header=True, target=d,
                    features=[a, b, c], batch_size=8)
    model = ModelSpec(layers=[LayerSpec("Linear", name=c, init="xavier_uniform", params={"out_features": 4}),
                              LayerSpec("ReLU", name=d), LayerSpec("Linear", name="out", params={"out_features": 2})])
    spec = TrainSpec(data=data, model=model, optim=OptimSpec("SGD", lr=0.1, groups=[ParamGroupSpec(c, lr=0.05)]),
                     sched=SchedSpec("LambdaLR", params={"expr": EXPRS}, monitor=a))
    spec.loop.epochs, spec.loop.logdir, spec.loop.run_name = 1, str(root / b), a
    spec.loop.checkpoint_dir, spec.loop.monitor = a, b
    return spec


def _write_csv(spec):
    d = spec.data
    os.makedirs(os.path.dirname(d.path), exist_ok=True)
    g = torch.Generator().manual_seed(0)
    with open(d.path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=d.delimiter)
        w.writerow(d.features + [d.target])
        for r in torch.randn(40, 3, generator=g).tolist():
            w.writerow([f"{v:.4f}" for v in r] + [int(r[0] > 0)])


def _shape(code: str) -> str:
    """The script's syntax tree with every string constant blanked: its code, without its data."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def _strings(code: str) -> set:
    return {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_hostile_text_is_exported_as_data_and_the_script_runs(tmp_path):
    spec = _spec(tmp_path, (H1, H2, H3, H4))
    _write_csv(spec)
    code = to_code(spec)
    benign = to_code(_spec(tmp_path, ("a", "b", "c c", "d")), input_shape=(3,), steps_per_epoch=4)  # "c c": model[0]
    assert _shape(code) == _shape(benign)
    consts = _strings(code)
    assert {spec.data.path, "'", H1, H2, H3, H4, f"{tmp_path / H2}/{H1}"} <= consts
    assert "0.9 ** epoch" in code and "1.0 / (epoch + 1.0)" in code
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("epoch 1/1: loss ")
    assert not list(tmp_path.rglob("PWNED")) and not os.path.exists("PWNED")
    assert any(f.name.startswith("events.out.tfevents") for f in (tmp_path / H2 / H1).iterdir())


def test_a_str_with_its_own_repr_is_exported_as_its_text(tmp_path):
    class Evil(str):
        def __repr__(self):
            return "__import__('os').system('touch PWNED')"

    spec = TrainSpec.default()
    spec.loop.logdir, spec.loop.run_name = Evil("runs"), Evil("r")
    code = to_code(spec, input_shape=(1, 28, 28), steps_per_epoch=3)
    assert "LOGDIR, HISTOGRAMS = 'runs/r', True" in code and "__import__" not in code


@pytest.mark.parametrize("expr", ["__import__('os').system('touch PWNED')", "epoch; import os",
                                  "0.9 ** epoch\nimport os"])
def test_an_expression_that_is_not_arithmetic_is_never_exported(expr):
    spec = TrainSpec.default()
    spec.sched = SchedSpec("LambdaLR", params={"expr": expr})   # made in Python: from_dict never saw it
    with pytest.raises(NbtrainError, match=r"^sched\.expr: (.* is not allowed in|cannot parse)"):
        to_code(spec, input_shape=(1, 28, 28), steps_per_epoch=3)


def test_a_non_finite_number_is_refused():
    spec = TrainSpec.default()
    spec.loop.min_delta = float("nan")
    with pytest.raises(NbtrainError, match=r"^to_code: the spec does not serialize to JSON"):
        to_code(spec, input_shape=(1, 28, 28), steps_per_epoch=3)


def test_the_script_carries_the_packages_own_data_code(tmp_path):
    """No second copy to drift: the loaders, split and standardization are nbtrain.build.data.plain's source, the CSV
    reader is nbtrain.build.data.csvfile's."""
    spec = _spec(tmp_path, ("a", "b", "c", "d"))
    code = to_code(spec, input_shape=(3,), steps_per_epoch=4)
    for fn in (plain.TensorSet, plain.split_indices, plain.standardize_stats, csvfile.read_csv, csvfile._target,
               metrics.accuracy_sum):
        assert inspect.getsource(fn) in code
    digits = to_code(TrainSpec.default(), input_shape=(1, 28, 28), steps_per_epoch=3)
    assert inspect.getsource(plain.load_digits_images) in digits and "read_csv" not in digits


def test_datasets_and_loaders_depend_one_way():
    from nbtrain.build.data import sources
    from nbtrain.spec.catalog.datasets import DATASETS
    assert set(DATASETS) == set(sources.LOADERS)
    assert all(DATASETS[k].build is sources.LOADERS[k] for k in DATASETS)
    imported = [n for n in ast.walk(ast.parse(inspect.getsource(sources)))
                if isinstance(n, (ast.Import, ast.ImportFrom)) and "catalog" in (getattr(n, "module", "") or "")]
    assert imported == []
    with pytest.raises(NbtrainError, match=r"^data\.dataset: unknown dataset 'digit' \(did you mean 'digits'\?\)"):
        sources.load_source(DataSpec(dataset="digit"))


@pytest.mark.parametrize("dataset", ["digits", "iris", "synthetic", "mnist", "fashion_mnist", "cifar10", "csv",
                                     "image_folder"])
def test_every_dataset_exports_with_its_own_loader(dataset):
    from nbtrain.spec.catalog.datasets import DATASETS
    spec = TrainSpec.default()
    spec.data.dataset, spec.data.path, spec.data.root = dataset, "some/where", 'r"\n'
    code = to_code(spec, input_shape=(1, 28, 28), steps_per_epoch=3)
    ast.parse(code)
    calls = {"digits": "load_digits_images(28)", "iris": "load_sklearn_table('iris')",
             "synthetic": "fake_train_test(1000, (1, 28, 28), 10)", "mnist": "load_torchvision('MNIST', 'r\"\\n', False)",
             "fashion_mnist": "load_torchvision('FashionMNIST', 'r\"\\n', False)",
             "cifar10": "load_torchvision('CIFAR10', 'r\"\\n', False)", "csv": "read_csv(CSV)",
             "image_folder": "load_image_folder('some/where')"}
    assert calls[dataset] in code
    assert set(calls) | {"wine", "breast_cancer"} == set(DATASETS)
