"""The data section of an exported script: the package's own loading code, emitted verbatim, then the split,
the standardization, the pipelines and the loaders with the spec's values as literals.

``nbtrain.build.data.plain`` holds the loaders, the split and the standardization as plain PyTorch; the package
imports them and this module emits their source (``inspect.getsource``), so the script loads exactly what
``fit()`` loads. CSV files are read by ``nbtrain.build.data.csvfile`` itself, emitted whole: its relative imports are
replaced by the source of what they import (the error classes), and any other is refused here (tested).
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import re

from .. import errors
from ..build.data import csvfile, plain
from ..build.data.sources import TORCHVISION
from ..errors import NbtrainError
from ..spec.catalog.datasets import DATASETS
from ..spec.catalog.transforms import to_tensor
from .literals import name, py
from .snippets import pipeline_code

_ERRORS = {n: getattr(errors, n) for n in ("NbtrainError", "SpecError", "DataError")}


def source(obj) -> str:
    return inspect.getsource(obj).rstrip() + "\n\n\n"


def module_code(module) -> str:
    """``module``'s source without its docstring and ``from __future__``, its ``from ..errors import ...``
    replaced by the source of those classes (NbtrainError first)."""
    text = inspect.getsource(module)
    lines = text.splitlines()
    drop, insert = set(), {}
    for i, stmt in enumerate(ast.parse(text).body):
        span = range(stmt.lineno - 1, stmt.end_lineno)
        if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            drop.update(span)
        elif isinstance(stmt, ast.ImportFrom) and (stmt.module == "__future__" or stmt.level):
            drop.update(span)
            if stmt.level:
                insert[span[0]] = _provided(module, stmt)
    out = []
    for i, line in enumerate(lines):
        if i in insert:
            out.append(insert[i].rstrip() + "\n")
        if i not in drop:
            out.append(line)
    return "\n".join(out).strip() + "\n\n\n"


def _provided(module, stmt: ast.ImportFrom) -> str:
    names = [a.name for a in stmt.names]
    target = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""), module.__package__)
    if target != "nbtrain.errors" or any(n not in _ERRORS for n in names):
        raise NbtrainError(f"{module.__name__} imports {ast.unparse(stmt)!r}, which an exported script cannot",
                           "to_code", "keep the module to the standard library, torch and nbtrain.errors")
    return "".join(source(_ERRORS[n]) for n in ["NbtrainError"] + [n for n in names if n != "NbtrainError"])


def _csv(d) -> tuple[str, str]:
    used = sorted(set(re.findall(r"\bspec\.(\w+)", inspect.getsource(csvfile))))
    fields = ", ".join(f"{f}={py(getattr(d, f), f'data.{f}')}" for f in used)
    call = (f"CSV = SimpleNamespace({fields})  # the DataSpec fields read_csv reads\n"
            "x, y, task, class_names = read_csv(CSV)\n"
            "train_base, test_base = TensorSet(x, y, image=False), None\n")
    return "from types import SimpleNamespace\n\n" + module_code(csvfile), call


def _loader(d) -> tuple[str, str]:
    """(the loading code, the lines that call it and define train_base and test_base)."""
    k = name(DATASETS, d.dataset, "data.dataset")
    if k == "digits":
        return source(plain.load_digits_images), (f"x, y = load_digits_images({py(d.image_size)})\n"
                                                  "train_base, test_base = TensorSet(x, y, image=True), None\n")
    if "tabular" in DATASETS[k].tags and k != "csv":
        return source(plain.load_sklearn_table), (f"x, y, class_names = load_sklearn_table({py(k)})\n"
                                                  "train_base, test_base = TensorSet(x, y, image=False), None\n")
    if k == "synthetic":
        return source(plain.fake_images) + source(plain.fake_train_test), (
            f"(x, y), (tx, ty) = fake_train_test({py(d.size)}, {py(d.image_shape)}, {py(d.num_classes)})\n"
            "train_base, test_base = TensorSet(x, y, image=True), TensorSet(tx, ty, image=True)\n")
    if k in TORCHVISION:
        call = f"load_torchvision({py(TORCHVISION[k][0])}, {py(d.root, 'data.root')}, {py(d.download)})"
        return source(plain.to_nchw) + source(plain.load_torchvision), (
            f"(x, y), (tx, ty), class_names = {call}\n"
            "train_base, test_base = TensorSet(x, y, image=True), TensorSet(tx, ty, image=True)\n")
    if k == "csv":
        return _csv(d)
    if k == "image_folder":
        call = f"load_image_folder({py(d.path, 'data.path')})"
        return source(plain.load_image_folder), f"train_base, test_base = {call}, None\n"
    raise NbtrainError(f"exporting the {k!r} dataset as plain PyTorch is not supported", "to_code",
                       "use one of: " + ", ".join(sorted(DATASETS)))


_SPLIT = '''


class Split(Dataset):
    """base[indices[i]] with a transform applied to x; a sample that is still not a float tensor afterwards
    gets nbtrain's implied ToTensor (ToImage, then ToDtype float32 scaled to [0, 1])."""

    def __init__(self, base, indices, transform):
        self.base, self.indices, self.transform = base, indices, transform
        self.implied = to_tensor()

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        x, y = self.base[int(self.indices[i])]
        x = self.transform(x)
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            x = self.implied(x)
        return x.as_subclass(torch.Tensor), y


'''


def _binary(d) -> str:
    """The lines that make the targets float 0/1 (N, 1) for a binary loss, as nbtrain.build.data.bundle.to_binary."""
    if d.dataset == "image_folder":
        return "train_base.target_transform = binary_target  # float 0/1 targets of shape (1,) for the binary loss\n"
    return ("train_base.y = binary_target(train_base.y)  # float 0/1 targets (N, 1) for the binary loss\n"
            "if test_base is not None:\n    test_base.y = binary_target(test_base.y)\n")


def data_code(d, fast: bool, binary: bool = False) -> str:
    """The script's data section; ``fast``: fit() takes its in-memory path (whose val loader has its own
    generator, where a DataLoader draws its base seed from the global RNG); ``binary``: the targets become float
    0/1 of shape (N, 1) (a binary loss, or data.task 'binary')."""
    tabular = "tabular" in DATASETS[name(DATASETS, d.dataset, "data.dataset")].tags
    code, call = _loader(d)
    if binary:
        code, call = code + source(plain.binary_target), call + _binary(d)
    parts = ["# nbtrain's own loading code (nbtrain/build/data/plain.py), verbatim\n", source(plain.TensorSet), code,
             source(plain.split_indices)]
    if tabular and d.standardize:
        parts.append(source(plain.standardize_stats))
    parts += [source(to_tensor).rstrip(), _SPLIT, call, "\n",
              pipeline_code("train_transform", d.train_transforms, "data.train_transforms"),
              pipeline_code("val_transform", d.val_transforms, "data.val_transforms")]
    if d.use_test_split:
        parts.append("train_idx, val_base, val_idx = torch.arange(len(train_base)), test_base, "
                     "torch.arange(len(test_base))\n")
    else:
        parts.append(f"train_idx, val_idx = split_indices(len(train_base), {py(float(d.val_split))}, DATA_SEED)\n"
                     "val_base = train_base\n")
    if tabular and d.standardize:
        parts.append("mean, std = standardize_stats(train_base.x, train_idx)  # the training split's statistics\n"
                     "train_base.x = (train_base.x - mean) / std\n"
                     "if test_base is not None:\n    test_base.x = (test_base.x - mean) / std\n")
    return "".join(parts) + _loaders(d, fast)


def _loaders(d, fast: bool) -> str:
    b, w, pin = py(d.batch_size), py(d.num_workers), py(d.pin_memory)
    sampler = "RandomSampler(train_set, generator=train_generator)" if d.shuffle else "SequentialSampler(train_set)"
    val = f"val_loader = DataLoader(val_set, batch_size={b}, shuffle=False, num_workers={w}, pin_memory={pin}"
    if fast:
        val = ("# its own generator, as nbtrain's in-memory loader (without one, iterating draws a seed from the "
               "global RNG)\n" + val + ",\n" + " " * 24 + "generator=torch.Generator().manual_seed(DATA_SEED + 1)")
    return f'''train_set = Split(train_base, train_idx, train_transform)
val_set = Split(val_base, val_idx, val_transform)
train_generator = torch.Generator().manual_seed(DATA_SEED)  # decides the batch order
train_sampler = {sampler}
train_loader = DataLoader(train_set, batch_size={b}, sampler=train_sampler, drop_last={py(d.drop_last)},
                          generator=train_generator, num_workers={w}, pin_memory={pin})
{val})
'''
