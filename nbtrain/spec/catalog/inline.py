"""Which parameters each catalog entry shows inline, on its one-line row in the Workbench (the rest open on demand).

Applied as an attribute on each Entry (``LAYERS["Conv2d"].inline == ("out_channels", "kernel_size")``);
an entry not named here shows none inline. At most three, the ones a reader of the model looks at first.
"""
from __future__ import annotations

from .layers import INITS, LAYERS
from .losses import LOSSES, METRICS
from .optim import OPTIMIZERS, SCHEDULERS
from .transforms import TRANSFORMS

_CONV = ("out_channels", "kernel_size")
INLINE = {
    "layer": {
        "Linear": ("out_features",), "Conv1d": _CONV, "Conv2d": _CONV, "MaxPool2d": ("kernel_size", "stride"),
        "AvgPool2d": ("kernel_size", "stride"), "AdaptiveAvgPool2d": ("output_size",), "BatchNorm1d": (),
        "BatchNorm2d": (), "LayerNorm": (), "Dropout": ("p",), "Dropout2d": ("p",), "Flatten": ("start_dim",),
        "ReLU": (), "LeakyReLU": ("negative_slope",), "GELU": ("approximate",), "ELU": ("alpha",), "Tanh": (),
        "Sigmoid": (), "Softmax": ("dim",), "LogSoftmax": ("dim",), "Identity": (),
        "Residual": ("shortcut", "activation"), "TorchvisionModel": ("arch", "num_classes"),
    },
    "transform": {
        "ToTensor": (), "ToImage": (), "ToDtype": ("dtype", "scale"), "Normalize": ("mean", "std"),
        "Resize": ("size",), "CenterCrop": ("size",), "Pad": ("padding",), "Grayscale": ("num_output_channels",),
        "RandomCrop": ("size", "padding"), "RandomResizedCrop": ("size", "scale"), "RandomHorizontalFlip": ("p",),
        "RandomVerticalFlip": ("p",), "RandomRotation": ("degrees",), "RandomAffine": ("degrees", "translate"),
        "ColorJitter": ("brightness", "contrast"), "GaussianBlur": ("kernel_size", "sigma"),
        "RandomErasing": ("p", "scale"),
    },
}
TABLES = (LAYERS, TRANSFORMS, INITS, OPTIMIZERS, SCHEDULERS, LOSSES, METRICS)


def apply() -> None:
    """Set ``entry.inline`` on every entry of every table (Entry is frozen: set past its __setattr__)."""
    for table in TABLES:
        names = INLINE.get(table.kind, {})
        for e in table.values():
            object.__setattr__(e, "inline", tuple(names.get(e.name, ())))


apply()
