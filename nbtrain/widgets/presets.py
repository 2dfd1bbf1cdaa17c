"""Ready-made models for the layer builder: an MLP, LeNet-5, a small CNN, a named (OrderedDict) conv net and seed
004's small ResNet (its residual blocks as Residual layers)."""
from __future__ import annotations

from ..spec.trainspec import LayerSpec as L
from ..spec.trainspec import ModelSpec, TrainSpec


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


def basic_block(out_channels: int, stride: int = 1, project: bool = False) -> L:
    """Seed 004's ResidualBlock (ResNet's BasicBlock) as one Residual layer: conv3x3 (stride) - BatchNorm2d - ReLU -
    conv3x3 - BatchNorm2d, the input added, then ReLU. ``project``: the block changes the channels or the size, so
    the input goes through seed 004's downsample (conv3x3 with the stride, no bias, and BatchNorm2d)."""
    def conv(s: int) -> dict:
        return {"type": "Conv2d", "out_channels": out_channels, "kernel_size": 3, "stride": s, "padding": 1,
                "bias": False}
    body = [conv(stride), {"type": "BatchNorm2d"}, {"type": "ReLU"}, conv(1), {"type": "BatchNorm2d"}]
    return L("Residual", params={"body": body, "shortcut": "conv3x3" if project else "identity",
                                 "activation": "ReLU"})


def resnet_blocks(num_classes: int = 10) -> ModelSpec:
    """Seed 004's CIFAR-10 ResNet with one block a stage (ResNet(ResidualBlock, [1, 1, 1])): a conv3x3 stem of 16
    channels, blocks of 16, 32 (stride 2) and 64 (stride 2) channels, average pooling to 1x1 (the seed's
    AvgPool2d(8) for 32x32 inputs), and the classifier."""
    return ModelSpec(layers=[
        L("Conv2d", params={"out_channels": 16, "kernel_size": 3, "padding": 1, "bias": False}), L("BatchNorm2d"),
        L("ReLU"), basic_block(16), basic_block(32, 2, project=True), basic_block(64, 2, project=True),
        L("AdaptiveAvgPool2d", params={"output_size": 1}), L("Flatten"),
        L("Linear", params={"out_features": num_classes})])


PRESETS = {"MLP": mlp, "LeNet-5": lenet5, "small CNN": small_cnn, "named conv net (OrderedDict)": named_cnn,
           "ResNet block (seed 004)": resnet_blocks}
