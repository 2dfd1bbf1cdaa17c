"""The data code an exported script shares with the package, in plain PyTorch.

Every function and class here is used by nbtrain.build.data (sources, bundle) and emitted verbatim by ``to_code``
(``inspect.getsource``), so the script cannot drift from what ``fit()`` loads: the same samples, the same
split, the same standardization. So this module imports no nbtrain module and raises no nbtrain error; the
package wraps its calls with clear errors. The heavy optional modules (scikit-learn, torchvision's dataset
classes) are imported inside the functions that need them.
"""
import torch
from torch.utils.data import Dataset, random_split
from torchvision import tv_tensors

from ...errors import DataError


class TensorSet(Dataset):
    """Samples held as one tensor: images (N, C, H, W) uint8 yielded as tv_tensors.Image, or features (N, F)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, image: bool):
        self.x, self.y, self.image = x, y, image

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return (tv_tensors.Image(x) if self.image else x), self.y[i]


def load_digits_images(image_size):
    """scikit-learn's 8x8 digits as uint8 images (N, 1, H, W) and int64 labels, resized (antialiased
    bilinear) to image_size x image_size (0 or 8: the native size)."""
    # heavy, optional for the package: only this dataset needs it
    from sklearn.datasets import load_digits
    from torchvision.transforms.v2 import functional as F
    d = load_digits()
    x = torch.from_numpy(d.images).float().mul(255.0 / 16.0).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    if image_size and image_size != 8:
        x = F.resize(x, [image_size, image_size], antialias=True)
    return x, torch.as_tensor(d.target, dtype=torch.int64)


def load_sklearn_table(name):
    """scikit-learn's load_<name>() as float32 features (N, F), int64 classes and the class names."""
    import sklearn.datasets  # heavy, optional for the package: only the tabular sets need it
    d = getattr(sklearn.datasets, f"load_{name}")()
    x = torch.as_tensor(d.data, dtype=torch.float32)
    return x, torch.as_tensor(d.target, dtype=torch.int64), [str(c) for c in d.target_names]


def fake_images(size, image_shape, num_classes, offset):
    """torchvision FakeData's samples as tensors: ``size`` uint8 images of image_shape (C, H, W) and int64 labels;
    ``offset`` seeds the samples (the test split uses offset=size of the train split). Made as FakeData makes
    sample i (a generator seeded with offset + i draws the image, then its label; ToPILImage's float-to-uint8
    step), without its per-sample torch.manual_seed (which also seeds every accelerator) and PIL round trip: the
    same numbers, ~10x faster."""
    xs = torch.empty(size, *image_shape, dtype=torch.uint8)
    ys = torch.empty(size, dtype=torch.int64)
    g = torch.Generator()
    for i in range(size):
        g.manual_seed(offset + i)
        xs[i] = torch.randn(*image_shape, generator=g).mul(255).byte()
        ys[i] = torch.randint(0, num_classes, (1,), generator=g)[0]
    return xs, ys


def fake_train_test(size, image_shape, num_classes):
    """FakeData's train split of ``size`` samples and its test split (a fifth of it, drawn after it)."""
    return (fake_images(size, image_shape, num_classes, 0),
            fake_images(max(1, size // 5), image_shape, num_classes, size))


def to_nchw(data) -> torch.Tensor:
    """A torchvision dataset's ``data`` as (N, C, H, W): MNIST holds (N, H, W), CIFAR (N, H, W, C)."""
    x = torch.as_tensor(data)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)


def load_torchvision(cls_name, root, download):
    """A torchvision dataset's train and test splits held in memory: ((x, y), (x_test, y_test), classes)."""
    import torchvision.datasets  # slow to import: only these sets need it
    cls = getattr(torchvision.datasets, cls_name)
    tr = cls(root, train=True, download=download)
    te = cls(root, train=False, download=False)
    test = (to_nchw(te.data), torch.as_tensor(te.targets, dtype=torch.int64))
    return (to_nchw(tr.data), torch.as_tensor(tr.targets, dtype=torch.int64)), test, list(tr.classes)


def load_image_folder(path):
    """torchvision ImageFolder: one subfolder of images per class, read one file per sample (PIL images)."""
    # slow to import: only this set needs it
    from torchvision.datasets import ImageFolder
    return ImageFolder(path)


def read_image(path):
    """torchvision's default image loader, with a file PIL cannot read named in one DataError (a try costs nothing
    on good files): a corrupt PNG gave a raw ``UnidentifiedImageError: cannot identify image file <_io...>``."""
    from torchvision.datasets.folder import default_loader
    try:
        return default_loader(path)
    except OSError as e:          # PIL's UnidentifiedImageError, a truncated file, a file removed since the scan
        raise DataError(f"cannot read this image ({type(e).__name__}: {str(e).split(' <_io')[0][:200]})", str(path),
                        "remove the file or replace it with a readable image (.png, .jpg, ...)") from None


def split_indices(n, val_split, seed):
    """(train indices, val indices) of n samples: a seeded random_split holding out the fraction val_split."""
    tr, va = random_split(range(n), [1 - val_split, val_split], generator=torch.Generator().manual_seed(seed))
    return torch.as_tensor(tr.indices), torch.as_tensor(va.indices)


def standardize_stats(x, train_idx):
    """(mean, std) per feature over the training rows; a constant feature gets std 1 (left unscaled)."""
    mean, std = x[train_idx].mean(0), x[train_idx].std(0, unbiased=False)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def binary_target(y):
    """Class indices 0/1 as the float targets a binary loss takes (BCEWithLogitsLoss, BCELoss): one sample's
    index becomes shape (1,), a tensor of N of them (N, 1), shaped like the model's single output."""
    y = torch.as_tensor(y, dtype=torch.float32)
    return y.reshape(1) if y.ndim == 0 else y.reshape(-1, 1)
