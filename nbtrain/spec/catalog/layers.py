"""Layers a model can be built from (torch.nn), and weight initialisers (torch.nn.init)."""
from __future__ import annotations

from torch import nn

from .blocks import TORCHVISION_MODELS, Residual, torchvision_model
from .params import P, Table, entry

_auto = "inferred from the shape flowing in when 'auto'"
_k = P("int_or_ints", "size of the sliding window (int or [h, w])", low=1)
_stride = P("int_or_ints", "step of the window", low=1)
_pad = P("padding", "zeros added on each side (int, [h, w], 'same' or 'valid')", low=0)
_pool_pad = P("int_or_ints", "implicit padding on each side", low=0)
_dil = P("int_or_ints", "spacing between kernel elements", low=1)
_bias = P("bool", "learn an additive bias")
_inplace = P("bool", "modify the input in place (saves memory)")
_eps = P("float", "added to the variance for numerical stability", low=0, low_open=True)
_mom = P("opt_float", "running-statistics momentum (null: cumulative average)", low=0, high=1)
_affine = P("bool", "learn a per-feature scale and shift")
_track = P("bool", "keep running mean/var for eval mode")
_p = P("float", "probability of zeroing an element", low=0, high=1)
_dim = P("opt_int", "dimension over which to normalise (null: torch's legacy choice)")
_conv = {
    "in_channels": P("auto_int", f"input channels ({_auto})", default="auto", low=1),
    "out_channels": P("int", "number of filters (output channels)", low=1),
    "kernel_size": _k, "stride": _stride, "padding": _pad, "dilation": _dil,
    "groups": P("int", "blocked connections from input to output channels", low=1), "bias": _bias,
    "padding_mode": P("choice", "how padding values are made", choices=["zeros", "reflect", "replicate", "circular"]),
}
_norm = {"eps": _eps, "momentum": _mom, "affine": _affine, "track_running_stats": _track}

LAYERS = Table("layer", [
    entry("Linear", nn.Linear, "fully connected layer: y = x W^T + b", {
        "in_features": P("auto_int", f"size of each input sample ({_auto})", default="auto", low=1),
        "out_features": P("int", "size of each output sample", low=1), "bias": _bias}, tags=["weight"]),
    entry("Conv1d", nn.Conv1d, "1-D convolution over (C, L) inputs", dict(_conv), tags=["weight", "conv"]),
    entry("Conv2d", nn.Conv2d, "2-D convolution over (C, H, W) inputs", dict(_conv), tags=["weight", "conv"]),
    entry("MaxPool2d", nn.MaxPool2d, "2-D max pooling", {
        "kernel_size": _k, "stride": P("int_or_ints", "step of the window (null: kernel_size)", default=None, low=1),
        "padding": _pool_pad, "dilation": _dil, "ceil_mode": P("bool", "round output size up")}),
    entry("AvgPool2d", nn.AvgPool2d, "2-D average pooling", {
        "kernel_size": _k, "stride": P("int_or_ints", "step of the window (null: kernel_size)", default=None, low=1),
        "padding": _pool_pad, "ceil_mode": P("bool", "round output size up"),
        "count_include_pad": P("bool", "count the zero padding in the average")}),
    entry("AdaptiveAvgPool2d", nn.AdaptiveAvgPool2d, "average pooling to a fixed output size", {
        "output_size": P("int_or_ints", "target output size (int or [h, w])", low=1)}),
    entry("BatchNorm1d", nn.BatchNorm1d, "batch normalisation over (N, C) or (N, C, L)", {
        "num_features": P("auto_int", f"channels ({_auto})", default="auto", low=1), **_norm}, tags=["norm"]),
    entry("BatchNorm2d", nn.BatchNorm2d, "batch normalisation over (N, C, H, W)", {
        "num_features": P("auto_int", f"channels ({_auto})", default="auto", low=1), **_norm}, tags=["norm"]),
    entry("LayerNorm", nn.LayerNorm, "layer normalisation over the last dimensions", {
        "normalized_shape": P("auto_int", f"size of the last dimension ({_auto})", default="auto", low=1),
        "eps": _eps, "elementwise_affine": _affine, "bias": _bias}, tags=["norm"]),
    entry("Dropout", nn.Dropout, "randomly zeroes elements while training", {"p": _p, "inplace": _inplace}),
    entry("Dropout2d", nn.Dropout2d, "randomly zeroes whole channels while training", {"p": _p, "inplace": _inplace}),
    entry("Flatten", nn.Flatten, "flattens dimensions start_dim..end_dim into one", {
        "start_dim": P("int", "first dimension to flatten (1 keeps the batch)"),
        "end_dim": P("int", "last dimension to flatten")}),
    entry("ReLU", nn.ReLU, "max(0, x)", {"inplace": _inplace}, tags=["act"]),
    entry("LeakyReLU", nn.LeakyReLU, "x if x > 0 else slope * x", {
        "negative_slope": P("float", "slope for negative inputs", low=0), "inplace": _inplace}, tags=["act"]),
    entry("GELU", nn.GELU, "Gaussian error linear unit", {
        "approximate": P("choice", "'tanh' uses the faster approximation", choices=["none", "tanh"])}, tags=["act"]),
    entry("ELU", nn.ELU, "exponential linear unit", {
        "alpha": P("float", "saturation value for negative inputs", low=0), "inplace": _inplace}, tags=["act"]),
    entry("Tanh", nn.Tanh, "hyperbolic tangent", {}, tags=["act"]),
    entry("Sigmoid", nn.Sigmoid, "logistic sigmoid", {}, tags=["act"]),
    entry("Softmax", nn.Softmax, "softmax over a dimension (not before CrossEntropyLoss)", {"dim": _dim},
          tags=["act", "prob"]),
    entry("LogSoftmax", nn.LogSoftmax, "log of softmax (pair it with NLLLoss)", {"dim": _dim}, tags=["act", "prob"]),
    entry("Identity", nn.Identity, "passes its input through unchanged", {}),
    entry("Residual", Residual, "a residual block: its body's layers applied to the input, the input added back "
          "(ResNet)", {
        "body": P("layers", "the layers applied to the input, in order, written like the model's layers (shapes "
                  "inferred: 'auto' works inside)", default=[], length=()),
        "shortcut": P("choice", "what is added to the body's output: auto (the input itself when the body keeps its "
                      "shape, else a 1x1 Conv2d with the body's stride + BatchNorm2d for images, a Linear for "
                      "features), identity, conv1x1, or conv3x3 (seed 004's downsample)", default="auto",
                      choices=["auto", "identity", "conv1x1", "conv3x3"]),
        "activation": P("choice", "applied to the sum: none, or ReLU (as in ResNet's BasicBlock)", default="none",
                        choices=["none", "ReLU"])}, tags=["block"]),
    entry("TorchvisionModel", torchvision_model, "a whole torchvision.models architecture with random weights, "
          "for (3, H, W) images", {
        "arch": P("choice", "the architecture (torchvision.models.get_model name)", default="resnet18",
                  choices=TORCHVISION_MODELS),
        "num_classes": P("int", "outputs of its last layer (the number of classes)", low=1),
        "weights": P("str", "pretrained weights are not downloaded here: leave empty for random weights (torchvision "
                     "names them, e.g. 'IMAGENET1K_V1': load such a model yourself and pass fit(model=...))",
                     default="")}, tags=["model"]),
])

# -- weight initialisers -------------------------------------------------------------------------
_gain = P("float", "scaling factor", low=0)
_mode = P("choice", "preserve variance of the forward ('fan_in') or backward pass", choices=["fan_in", "fan_out"])
_nl = P("choice", "the non-linearity that follows", choices=["relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu"])
_a = P("float", "negative slope of the following leaky_relu")

INITS = Table("init", [
    entry("xavier_uniform", nn.init.xavier_uniform_, "Glorot uniform: U(-a, a), a = gain*sqrt(6/(fan_in+fan_out))",
          {"gain": _gain}),
    entry("xavier_normal", nn.init.xavier_normal_, "Glorot normal: N(0, gain^2 * 2/(fan_in+fan_out))", {"gain": _gain}),
    entry("kaiming_uniform", nn.init.kaiming_uniform_, "He uniform, for ReLU networks",
          {"a": _a, "mode": _mode, "nonlinearity": _nl}),
    entry("kaiming_normal", nn.init.kaiming_normal_, "He normal, for ReLU networks",
          {"a": _a, "mode": _mode, "nonlinearity": _nl}),
    entry("uniform", nn.init.uniform_, "U(a, b)", {"a": P("float", "lower bound"), "b": P("float", "upper bound")}),
    entry("normal", nn.init.normal_, "N(mean, std^2)", {"mean": P("float", "mean"), "std": P("float", "standard deviation", low=0)}),
    entry("constant", nn.init.constant_, "every weight set to val", {"val": P("float", "the value", default=0.0)}),
    entry("eye", nn.init.eye_, "identity matrix (2-D weights only)", {}),
    entry("orthogonal", nn.init.orthogonal_, "(semi-)orthogonal matrix", {"gain": _gain}),
    entry("sparse", nn.init.sparse_, "sparse matrix, non-zeros drawn from N(0, std^2) (2-D weights only)", {
        "sparsity": P("float", "fraction of zeros in each column", default=0.1, low=0, high=1),
        "std": P("float", "std of the non-zero values", low=0)}),
    entry("zeros", nn.init.zeros_, "every weight set to 0", {}),
])
