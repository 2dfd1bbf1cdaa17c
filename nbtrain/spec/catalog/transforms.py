"""Image transforms (torchvision.transforms.v2) a data pipeline can name.

Defaults come from torchvision's own signatures (``entry``); enum defaults (interpolation modes) are
written as their string value, and a ``null`` default means what it means to torchvision (no translation,
no jitter). Tags:
``random`` (draws random numbers per sample; refused on the validation pipeline unless random_val),
``vectorized`` (the fast in-memory path runs it per batch as one tensor op).
"""
from __future__ import annotations

import enum
import inspect

import torch
from torchvision.transforms import InterpolationMode, v2

from .params import P, Table, entry

_INTERP = [m.value for m in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT, InterpolationMode.BILINEAR,
                             InterpolationMode.BICUBIC)]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
           "uint8": torch.uint8}


def to_tensor():
    """The seed's ToTensor in the v2 API: ToImage then ToDtype(float32, scale=True)."""
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def _with_modes(cls):
    """``cls`` itself, or where it takes an interpolation mode or a dtype, a builder that takes their JSON
    names ("bilinear", "float32") and whose signature is torchvision's with enum defaults as their names."""
    sig = inspect.signature(cls)
    if not {"interpolation", "dtype"} & set(sig.parameters):
        return cls

    def build(**kw):
        if "interpolation" in kw:
            kw["interpolation"] = InterpolationMode(kw["interpolation"])
        if "dtype" in kw:
            kw["dtype"] = _DTYPES[kw["dtype"]]
        return cls(**kw)
    build.__name__, build.__doc__ = cls.__name__, cls.__doc__
    build.__signature__ = sig.replace(parameters=[
        p.replace(default=p.default.value) if isinstance(p.default, enum.Enum) else p for p in sig.parameters.values()])
    return build


def tv(name: str, cls, help: str, params: dict, tags=()):
    """An entry for a torchvision v2 class, defaults from its (builder's) signature."""
    return entry(name, _with_modes(cls), help, params, tags=tags)


_size = P("int_or_ints", "output size: int (the shorter side for Resize, a square for crops) or [h, w]", low=1)
_interp = P("choice", "interpolation mode", choices=_INTERP)
_antialias = P("bool", "antialias when downsampling")
_fill = P("float", "value of pixels outside the image (in the image's own scale: 0..255 for uint8)")
_pmode = P("choice", "how padding pixels are made", choices=["constant", "edge", "reflect", "symmetric"])
_p = P("float", "probability of applying it to a sample", low=0, high=1)
_jit = "null or 0: unchanged; f: factor drawn from [max(0, 1 - f), 1 + f]; [lo, hi]: drawn from that range"

# torchvision transforms the table does not list that draw random numbers per sample (those named Random...
# aside): the ``random`` fact for a user's own pipeline (catalog.is_random), kept beside the tags it extends
RANDOM_OUTSIDE_CATALOG = frozenset({"AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix", "GaussianNoise",
                                    "ElasticTransform", "ScaleJitter", "JPEG", "MixUp", "CutMix"})

TRANSFORMS = Table("transform", [
    entry("ToTensor", to_tensor, "image to a float tensor in [0, 1] (ToImage + ToDtype(float32, scale=True))", {}),
    tv("ToImage", v2.ToImage, "PIL image or array to a tensor image, dtype unchanged (uint8 stays 0..255)", {}),
    tv("ToDtype", v2.ToDtype, "convert the image dtype; scale=True maps 0..255 to 0..1 and back", {
        "dtype": P("choice", "target dtype", default="float32", choices=list(_DTYPES)),
        "scale": P("bool", "rescale values to the new dtype's range")}),
    tv("Normalize", v2.Normalize, "(x - mean) / std per channel, on float images", {
        "mean": P("floats", "per-channel mean, one per channel (nbtrain.normalize_stats computes it)"),
        "std": P("floats", "per-channel standard deviation, one per channel", low=0, low_open=True)}),
    tv("Resize", v2.Resize, "resize to size (int: the shorter side, keeping the aspect ratio)", {
        "size": _size, "interpolation": _interp,
        "max_size": P("opt_int", "upper bound on the longer side (null: none)", low=1), "antialias": _antialias}),
    tv("CenterCrop", v2.CenterCrop, "crop the centre to size", {"size": _size}),
    tv("Pad", v2.Pad, "pad every side by padding pixels", {
        "padding": P("int_or_ints", "pixels on each side: int, [left/right, top/bottom] or [l, t, r, b]", low=0,
                     length=(1, 2, 4)),
        "fill": _fill, "padding_mode": _pmode}),
    tv("Grayscale", v2.Grayscale, "convert RGB to grayscale", {
        "num_output_channels": P("choice", "1, or 3 identical channels", choices=[1, 3])}),
    tv("RandomCrop", v2.RandomCrop, "crop size at a random place, after optional padding (CIFAR-style)", {
        "size": _size, "padding": P("opt_int", "pixels added on each side before cropping (null: none)", low=0),
        "pad_if_needed": P("bool", "pad images smaller than size"), "fill": _fill, "padding_mode": _pmode},
       tags=["random", "vectorized"]),
    tv("RandomResizedCrop", v2.RandomResizedCrop, "crop a random area and aspect ratio, resize to size "
       "(the seed's RandomSizedCrop)", {
        "size": _size, "scale": P("floats", "[min, max] fraction of the image area", low=0),
        "ratio": P("floats", "[min, max] aspect ratio", low=0, low_open=True),
        "interpolation": _interp, "antialias": _antialias}, tags=["random"]),
    tv("RandomHorizontalFlip", v2.RandomHorizontalFlip, "mirror left-right with probability p", {"p": _p},
       tags=["random", "vectorized"]),
    tv("RandomVerticalFlip", v2.RandomVerticalFlip, "mirror top-bottom with probability p", {"p": _p},
       tags=["random", "vectorized"]),
    tv("RandomRotation", v2.RandomRotation, "rotate by an angle drawn from [-degrees, degrees] (or [lo, hi])", {
        "degrees": P("float_or_floats", "range of angles in degrees: d for [-d, d], or [lo, hi]"),
        "interpolation": _interp, "expand": P("bool", "enlarge the output to hold the whole rotated image"),
        "fill": _fill}, tags=["random"]),
    tv("RandomAffine", v2.RandomAffine, "random rotation, translation, scale and shear", {
        "degrees": P("float_or_floats", "rotation range in degrees: d for [-d, d], or [lo, hi]"),
        "translate": P("floats", "[fx, fy] largest shift as a fraction of width / height (null: none)",
                       low=0, high=1, length=2),
        "scale": P("floats", "[lo, hi] scale factor range (null: none)", low=0, low_open=True, length=2),
        "shear": P("float_or_floats", "shear range in degrees: s for [-s, s], or [lo, hi] (null: none)",
                   length=(2, 4)),
        "interpolation": _interp, "fill": _fill}, tags=["random"]),
    tv("ColorJitter", v2.ColorJitter, "random brightness, contrast, saturation and hue", {
        "brightness": P("float_or_floats", f"brightness: {_jit}", low=0),
        "contrast": P("float_or_floats", f"contrast: {_jit}", low=0),
        "saturation": P("float_or_floats", f"saturation (RGB only): {_jit}", low=0),
        "hue": P("float_or_floats", "hue shift (RGB only): null or 0: none; h for [-h, h] with h <= 0.5, "
                 "or [lo, hi]", low=-0.5, high=0.5)}, tags=["random"]),
    tv("GaussianBlur", v2.GaussianBlur, "blur with a Gaussian kernel of random sigma", {
        "kernel_size": P("int_or_ints", "kernel size, odd (int or [h, w])", low=1),
        "sigma": P("float_or_floats", "sigma, or [min, max] to draw it from", low=0, low_open=True)}, tags=["random"]),
    tv("RandomErasing", v2.RandomErasing, "erase a random rectangle (on float tensors, after ToTensor)", {
        "p": _p, "scale": P("floats", "[min, max] fraction of the image erased", low=0, high=1),
        "ratio": P("floats", "[min, max] aspect ratio of the erased area", low=0, low_open=True),
        "value": P("float", "value written into the erased area")}, tags=["random"]),
])
