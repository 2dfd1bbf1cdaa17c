"""Where samples come from: each dataset a DataSpec can name, loaded into a ``Source``.

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
from torchvision import tv_tensors

from ..errors import DataError


class TensorSet(Dataset):
    """Samples held as one tensor: images (N, C, H, W) uint8 yielded as tv_tensors.Image, or features (N, F)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, image: bool):
        self.x, self.y, self.image = x, y, image

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return (tv_tensors.Image(x) if self.image else x), self.y[i]


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
    from sklearn.datasets import load_digits
    from torchvision.transforms.v2 import functional as F
    d = load_digits()
    x = torch.from_numpy(d.images).float().mul(255.0 / 16.0).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    if spec.image_size and spec.image_size != 8:
        x = F.resize(x, [spec.image_size, spec.image_size], antialias=True)
    return _images(x, d.target, list(range(10)), "digits")


def tabular(name: str):
    def load(spec) -> Source:
        import sklearn.datasets as skd
        d = getattr(skd, f"load_{name}")()
        x = torch.as_tensor(d.data, dtype=torch.float32)
        y = torch.as_tensor(d.target, dtype=torch.int64)
        return Source(TensorSet(x, y, image=False), None, "tabular", "classification",
                      [str(c) for c in d.target_names], name)
    return load


def synthetic(spec) -> Source:
    """torchvision FakeData: random images of image_shape, labels in [0, num_classes); test split offset by size."""
    from torchvision.datasets import FakeData
    from torchvision.transforms import v2
    c, h, w = spec.image_shape

    def load(size, offset):
        fd = FakeData(size, image_size=(c, h, w), num_classes=spec.num_classes, transform=v2.PILToTensor(),
                      random_offset=offset)
        xs, ys = zip(*(fd[i] for i in range(size)))
        return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)

    x, y = load(spec.size, 0)
    tx, ty = load(max(1, spec.size // 5), spec.size)
    return _images(x, y, list(range(spec.num_classes)), "synthetic", TensorSet(tx, ty, image=True))


_TV = {"mnist": ("MNIST", "MNIST/raw", "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                 "t10k-labels-idx1-ubyte"),
       "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw", "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                         "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"),
       "cifar10": ("CIFAR10", "cifar-10-batches-py", "data_batch_1..5, test_batch, batches.meta "
                   "(from cifar-10-python.tar.gz)")}


def torchvision_set(name: str):
    def load(spec) -> Source:
        import torchvision.datasets as tvd
        cls_name, sub, files = _TV[name]
        cls = getattr(tvd, cls_name)
        where = os.path.join(spec.root, sub)
        try:
            tr = cls(spec.root, train=True, download=spec.download)
            te = cls(spec.root, train=False, download=False)
        except Exception as e:  # torchvision raises RuntimeError (missing/corrupt) or URLError/OSError (no network)
            how = ("the download failed: " + str(e).strip().splitlines()[0] + "; download on a machine with network "
                   "and copy the folder here") if spec.download else "set download=True, or copy them there"
            raise DataError(f"{cls_name} files not found or incomplete", where, f"expected {files}; {how}") from None
        return _images(_to_nchw(tr.data), tr.targets, tr.classes, name,
                       TensorSet(_to_nchw(te.data), torch.as_tensor(te.targets, dtype=torch.int64), image=True))
    return load


def _to_nchw(data) -> torch.Tensor:
    x = torch.as_tensor(data)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)   # MNIST (N,H,W); CIFAR (N,H,W,C)


def image_folder(spec) -> Source:
    from torchvision.datasets import ImageFolder
    p = Path(spec.path)
    if not spec.path or not p.is_dir():
        raise DataError("image folder not found", "data.path" if not spec.path else str(p),
                        "give the folder that holds one subfolder per class")
    try:
        ds = ImageFolder(str(p))
    except FileNotFoundError:   # no class folders, or no image files in them
        raise DataError("no class subfolders with images", str(p),
                        "put each class's images (.png, .jpg, ...) in its own subfolder, e.g. cats/1.png") from None
    return Source(ds, None, "image", "classification", list(ds.classes), "image_folder")


def csv_source(spec) -> Source:
    from .csvfile import read_csv
    x, y, task, names = read_csv(spec)
    return Source(TensorSet(x, y, image=False), None, "tabular", task, names, "csv")


def load_source(spec) -> Source:
    from ..catalog.datasets import DATASETS
    return DATASETS.get_entry(spec.dataset, "data.dataset").build(spec)
