"""Ready-made models for the layer builder: an MLP, LeNet-5, a small CNN and a named (OrderedDict) conv net."""
from __future__ import annotations

from ..spec import LayerSpec as L
from ..spec import ModelSpec, TrainSpec


def mlp(num_classes: int = 10) -> ModelSpec:
    return ModelSpec(layers=[L("Flatten"), L("Linear", params={"out_features": 128}), L("ReLU"),
                             L("Linear", params={"out_features": 64}), L("ReLU"),
                             L("Linear", params={"out_features": num_classes})])


def lenet5(num_classes: int = 10) -> ModelSpec:
    """LeCun et al. 1998 for 28x28 inputs (padding 2 on the first conv stands in for 32x32)."""
    return ModelSpec(layers=[
        L("Conv2d", params={"out_channels": 6, "kernel_size": 5, "padding": 2}), L("Tanh"),
        L("AvgPool2d", params={"kernel_size": 2}),
        L("Conv2d", params={"out_channels": 16, "kernel_size": 5}), L("Tanh"),
        L("AvgPool2d", params={"kernel_size": 2}),
        L("Flatten"), L("Linear", params={"out_features": 120}), L("Tanh"),
        L("Linear", params={"out_features": 84}), L("Tanh"), L("Linear", params={"out_features": num_classes})])


def small_cnn(num_classes: int = 10) -> ModelSpec:
    m = TrainSpec.default().model
    m.layers[-1].params["out_features"] = num_classes
    return m


def named_cnn(num_classes: int = 10) -> ModelSpec:
    """A conv net whose layers carry names, built as nn.Sequential(OrderedDict(...))."""
    return ModelSpec(layers=[
        L("Conv2d", "conv1", params={"out_channels": 16, "kernel_size": 3, "padding": 1}), L("ReLU", "relu1"),
        L("MaxPool2d", "pool1", params={"kernel_size": 2}),
        L("Conv2d", "conv2", params={"out_channels": 32, "kernel_size": 3, "padding": 1}), L("ReLU", "relu2"),
        L("MaxPool2d", "pool2", params={"kernel_size": 2}),
        L("Flatten", "flatten"), L("Linear", "fc1", params={"out_features": 128}), L("ReLU", "relu3"),
        L("Dropout", "drop", params={"p": 0.25}), L("Linear", "fc2", params={"out_features": num_classes})])


PRESETS = {"MLP": mlp, "LeNet-5": lenet5, "small CNN": small_cnn, "named conv net (OrderedDict)": named_cnn}
