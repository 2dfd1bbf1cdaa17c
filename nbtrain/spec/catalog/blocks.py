"""Layers of the catalog that are more than one torch.nn class: a residual block and a torchvision model.

``Residual`` is plain PyTorch (torch only): an exported script carries its source (``inspect.getsource``), so the
script's model is the package's. nbtrain.build.model builds its body and shortcut from a LayerSpec (shapes inferred).
"""
from __future__ import annotations

from torch import nn
from torchvision import models  # loaded with torchvision itself (its __init__ imports models): no extra cost

# the architectures TorchvisionModel offers (torchvision.models.get_model names), small ones first
TORCHVISION_MODELS = ("resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large",
                      "mobilenet_v2", "efficientnet_b0", "shufflenet_v2_x0_5", "squeezenet1_0", "regnet_y_400mf",
                      "densenet121", "vgg11_bn", "alexnet", "convnext_tiny")


class Residual(nn.Module):
    """``activation(body(x) + shortcut(x))``: a block whose layers are added to its input (He et al. 2015).

    ``shortcut`` is None for the identity (the body keeps the shape), or a module that brings x to the body's
    output shape (a 1x1 or 3x3 convolution with the body's stride and a BatchNorm2d); ``activation`` (e.g. ReLU,
    as in ResNet's BasicBlock) or None follows the sum."""

    def __init__(self, body, shortcut=None, activation=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x):
        out = self.body(x) + (x if self.shortcut is None else self.shortcut(x))
        return out if self.activation is None else self.activation(out)


def torchvision_model(arch: str, num_classes: int = 1000):
    """``torchvision.models.get_model(arch, weights=None, num_classes=num_classes)``: the architecture with random
    weights (nbtrain downloads no weights; nbtrain.build.model refuses a ``weights`` name with a clear error)."""
    return models.get_model(arch, weights=None, num_classes=num_classes)
