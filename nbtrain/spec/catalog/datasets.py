"""Datasets a DataSpec can name: each an Entry whose ``build(data_spec)`` loads it (nbtrain.build.data.sources.LOADERS;
this table reads the loaders from there, the loaders never read this table).

Tags: ``image`` or ``tabular``; ``offline`` (shipped by an installed package, no files needed);
``test_split`` (has its own test split for ``use_test_split``). ``FIELDS`` lists the DataSpec fields
each dataset reads beyond the common ones (pipelines, split, loaders), for editors to show.
"""
from __future__ import annotations

from ...build.data.sources import LOADERS
from .params import Entry, Table


def _e(name, help, *tags) -> Entry:
    return Entry(name, LOADERS[name], (), help, frozenset(tags))


DATASETS = Table("dataset", [
    _e("digits", "scikit-learn's 1797 handwritten digits, 8x8 grayscale, 10 classes (resized to image_size)",
       "image", "offline"),
    _e("iris", "scikit-learn's iris: 150 flowers, 4 features, 3 classes", "tabular", "offline"),
    _e("wine", "scikit-learn's wine: 178 wines, 13 features, 3 classes", "tabular", "offline"),
    _e("breast_cancer", "scikit-learn's breast cancer: 569 samples, 30 features, 2 classes",
       "tabular", "offline"),
    _e("synthetic", "torchvision FakeData: random images of any image_shape and num_classes",
       "image", "offline", "test_split"),
    _e("mnist", "torchvision MNIST: 60000 + 10000 handwritten digits, 1x28x28",
       "image", "test_split"),
    _e("fashion_mnist", "torchvision FashionMNIST: 60000 + 10000 clothing "
       "images, 1x28x28, 10 classes", "image", "test_split"),
    _e("cifar10", "torchvision CIFAR10: 50000 + 10000 colour images, 3x32x32, 10 classes",
       "image", "test_split"),
    _e("csv", "a CSV file (or .csv.gz) of numbers: features and one target column", "tabular"),
    _e("image_folder", "torchvision ImageFolder: a folder with one subfolder of images per class",
       "image"),
])

FIELDS = {
    "digits": ("image_size",), "iris": ("standardize",), "wine": ("standardize",), "breast_cancer": ("standardize",),
    "synthetic": ("image_shape", "num_classes", "size"), "mnist": ("root", "download"),
    "fashion_mnist": ("root", "download"), "cifar10": ("root", "download"),
    "csv": ("path", "delimiter", "header", "target", "features", "task", "standardize"), "image_folder": ("path",),
}
