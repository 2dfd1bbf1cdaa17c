"""Where samples come from: each dataset a DataSpec can name, loaded into a ``Source``.

The loading itself is plain PyTorch in ``plain`` (shared with exported scripts); here it is wrapped in
errors that say what to do. ``LOADERS`` maps each dataset name to its loader; nbtrain.spec.catalog.DATASETS
describes the same names (help, tags) and reads the loaders from here, so the dependency is one-way.

Image sets that fit in memory (digits, synthetic, MNIST, FashionMNIST, CIFAR10) become ``TensorSet``s of
uint8 (N, C, H, W) images; tabular sets become float feature matrices; ImageFolder stays a torchvision
ImageFolder that opens one file per sample.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ...errors import DataError, unknown_name
from . import plain
from .csvfile import read_csv
from .plain import TensorSet
from .sanity import check_links

__all__ = ["LOADERS", "Source", "TensorSet", "load_source"]


@dataclass
class Source:
    train: Dataset                   # the set train and val_split are drawn from
    test: Dataset | None             # the dataset's own test split, if it has one
    kind: str                        # "image" or "tabular"
    task: str                        # "classification" or "regression"
    class_names: list = field(default_factory=list)
    name: str = ""


def _images(x: torch.Tensor, y, names, name: str, test=None) -> Source:
    y = torch.as_tensor(y, dtype=torch.int64)
    tr = TensorSet(x.contiguous(), y, image=True)
    return Source(tr, test, "image", "classification", [str(c) for c in names], name)


def digits(spec) -> Source:
    """scikit-learn's 8x8 digits as uint8 images, resized (antialiased bilinear) to image_size."""
    x, y = plain.load_digits_images(spec.image_size)
    return _images(x, y, list(range(10)), "digits")


def tabular(name: str):
    def load(spec) -> Source:
        x, y, names = plain.load_sklearn_table(name)
        return Source(TensorSet(x, y, image=False), None, "tabular", "classification", names, name)
    return load


def synthetic(spec) -> Source:
    """torchvision FakeData: random images of image_shape, labels in [0, num_classes); test split offset by size."""
    (x, y), (tx, ty) = plain.fake_train_test(spec.size, spec.image_shape, spec.num_classes)
    return _images(x, y, list(range(spec.num_classes)), "synthetic", TensorSet(tx, ty, image=True))


# name -> (torchvision class, the folder under root that holds its files, the files)
TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw", ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                                     "t10k-labels-idx1-ubyte")),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw", ("train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                                           "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte")),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", ("data_batch_1..5, test_batch, batches.meta "
                                                   "(from cifar-10-python.tar.gz)"))}


def torchvision_set(name: str):
    def load(spec) -> Source:
        cls_name, sub, files = TORCHVISION[name]
        where = os.path.join(spec.root, sub)
        try:
            (x, y), (tx, ty), classes = plain.load_torchvision(cls_name, spec.root, spec.download)
        except Exception as e:  # torchvision raises RuntimeError (missing/corrupt) or URLError/OSError (no network)
            how = ("the download failed: " + str(e).strip().splitlines()[0] + "; download on a machine with network "
                   "and copy the folder here") if spec.download else "set download=True, or copy them there"
            raise DataError(f"{cls_name} files not found or incomplete", where, f"expected {files}; {how}") from None
        return _images(x, y, classes, name, TensorSet(tx, ty, image=True))
    return load


def image_folder(spec) -> Source:
    p = Path(spec.path)
    if not spec.path or not p.is_dir():
        raise DataError("image folder not found", "data.path" if not spec.path else str(p),
                        "give the folder that holds one subfolder per class")
    check_links(p, str(p))       # ImageFolder follows links to folders: one that loops would count images again
    try:
        ds = plain.load_image_folder(str(p))
    except FileNotFoundError:   # no class folders, or no image files in them
        raise DataError("no class subfolders with images", str(p),
                        "put each class's images (.png, .jpg, ...) in its own subfolder, e.g. cats/1.png") from None
    ds.loader = plain.read_image     # a file PIL cannot read: one DataError naming it (the script keeps PIL's own)
    return Source(ds, None, "image", "classification", list(ds.classes), "image_folder")


def csv_source(spec) -> Source:
    x, y, task, names = read_csv(spec)
    return Source(TensorSet(x, y, image=False), None, "tabular", task, names, "csv")


LOADERS = {"digits": digits, "iris": tabular("iris"), "wine": tabular("wine"),
           "breast_cancer": tabular("breast_cancer"), "synthetic": synthetic,
           "mnist": torchvision_set("mnist"), "fashion_mnist": torchvision_set("fashion_mnist"),
           "cifar10": torchvision_set("cifar10"), "csv": csv_source, "image_folder": image_folder}


def load_source(spec) -> Source:
    """The samples of the dataset ``spec.dataset`` names (nbtrain.spec.catalog.DATASETS describes each)."""
    try:
        load = LOADERS[spec.dataset]
    except KeyError:
        raise unknown_name("dataset", spec.dataset, LOADERS, "data.dataset") from None
    return load(spec)
