"""The transforms table: complete, each transform runs in a pipeline, and the fast path's vectorized crop and
flips compute what torchvision's do."""
import pytest
import torch

from nbtrain import DataSpec, TrainSpec, build_data
from nbtrain import TransformSpec as T
from nbtrain.errors import SpecError
from nbtrain.spec.catalog import TRANSFORMS

ISSUE = {"ToTensor", "Normalize", "Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip",
         "RandomVerticalFlip", "RandomRotation", "RandomAffine", "ColorJitter", "Grayscale", "GaussianBlur",
         "RandomErasing"}
RANDOM = {"RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation",
          "RandomAffine", "ColorJitter", "GaussianBlur", "RandomErasing"}

# the smallest params that make each transform valid on 3x32x32 images, and where it goes (before/after ToTensor)
NEEDS = {"Normalize": ({"mean": [0.5] * 3, "std": [0.25] * 3}, "after"), "Resize": ({"size": 20}, "before"),
         "CenterCrop": ({"size": 24}, "before"), "RandomCrop": ({"size": 24}, "before"),
         "RandomResizedCrop": ({"size": 20}, "before"), "RandomRotation": ({"degrees": 30}, "before"),
         "RandomAffine": ({"degrees": 10, "translate": [0.1, 0.1]}, "before"), "Pad": ({"padding": 2}, "before"),
         "GaussianBlur": ({"kernel_size": 3}, "before"), "RandomErasing": ({"p": 1.0}, "after"),
         "ColorJitter": ({"brightness": 0.5, "hue": 0.1}, "before"), "Grayscale": ({"num_output_channels": 3}, "before"),
         "ToDtype": ({"dtype": "float32", "scale": True}, "before")}
SHAPE = {"Resize": (3, 20, 20), "CenterCrop": (3, 24, 24), "RandomCrop": (3, 24, 24), "RandomResizedCrop": (3, 20, 20),
         "Pad": (3, 36, 36)}


def test_the_issue_transforms_are_in_the_catalog_with_their_tags():
    assert ISSUE <= set(TRANSFORMS)
    assert {n for n, e in TRANSFORMS.items() if "random" in e.tags} == RANDOM
    assert {n for n, e in TRANSFORMS.items() if "vectorized" in e.tags} == {"RandomCrop", "RandomHorizontalFlip",
                                                                             "RandomVerticalFlip"}
    rc = TRANSFORMS["RandomCrop"]
    assert rc.defaults() == {"padding": None, "pad_if_needed": False, "fill": 0, "padding_mode": "constant"}
    assert TRANSFORMS["Resize"].defaults()["interpolation"] == "bilinear"         # torchvision's, as its name
    assert TRANSFORMS["RandomResizedCrop"].defaults()["scale"] == [0.08, 1.0]
    assert all(p.help for e in TRANSFORMS.values() for p in e.params)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_runs_in_a_pipeline(name):
    params, where = NEEDS.get(name, ({}, "before"))
    step = T(name, params)
    pipe = [step, T("ToTensor")] if where == "before" else [T("ToTensor"), step]
    spec = DataSpec(dataset="synthetic", image_shape=[3, 32, 32], size=20, batch_size=10, train_transforms=pipe,
                    val_transforms=[t for t in pipe if "random" not in t.entry().tags])
    if name in SHAPE:
        spec.val_transforms = pipe if name not in RANDOM else [T("Resize", {"size": list(SHAPE[name][1:])}),
                                                               T("ToTensor")]
    b = build_data(spec)
    x, y = next(iter(b.train))
    assert x.dtype == torch.float32 and x.shape == (10, *SHAPE.get(name, (3, 32, 32)))
    if name != "Normalize":
        assert x.min() >= 0 and x.max() <= 1


def test_transform_params_are_checked_when_the_spec_is_read():
    with pytest.raises(SpecError) as e:
        TrainSpec.from_dict({"data": {"train_transforms": [{"type": "RandomHorizontalFlip", "p": 1.5}]}})
    assert str(e.value) == "data.train_transforms[0].p: must be <= 1, got 1.5 (set p to a value <= 1)"
    with pytest.raises(SpecError) as e:
        TrainSpec.from_dict({"data": {"train_transforms": [{"type": "RandomSizedCrop", "size": 8}]}})
    assert str(e.value) == ("data.train_transforms[0].type: unknown transform 'RandomSizedCrop' (did you mean "
                            "'RandomResizedCrop' or 'RandomCrop' or 'RandomAffine'?)")
    spec = TrainSpec.from_dict({"data": {"train_transforms": [{"type": "RandomCrop", "size": 28, "padding": 2}]}})
    assert spec.data.train_transforms[0].kwargs()["padding"] == 2
    assert TrainSpec.from_json(spec.to_json()).to_dict() == spec.to_dict()


@pytest.mark.parametrize("pipe", [
    [T("ToTensor"), T("RandomHorizontalFlip", {"p": 1.0}), T("RandomVerticalFlip", {"p": 1.0})],
    [T("RandomHorizontalFlip", {"p": 0.0}), T("ToTensor"), T("Normalize", {"mean": [0.3], "std": [0.3]})],
    [T("RandomCrop", {"size": 36, "padding": 4, "fill": 7}), T("ToTensor")],                      # the whole padding
    [T("ToTensor"), T("RandomCrop", {"size": [32, 32], "padding": 2, "padding_mode": "edge"})],
    [T("RandomCrop", {"size": 30, "padding": 1, "padding_mode": "reflect"}), T("ToTensor")],
], ids=["flips", "no-flip", "crop-fill", "crop-edge", "crop-reflect"])
def test_vectorized_random_ops_equal_torchvision_where_their_outcome_is_certain(pipe):
    """With p in {0, 1} and a crop as large as the padded image, a random step has one outcome: then the fast path
    and torchvision through the DataLoader must give the very same batches."""
    spec = DataSpec(train_transforms=pipe, val_transforms=[t for t in pipe if "random" not in t.entry().tags] or [],
                    batch_size=100)
    if spec.val_transforms != pipe:
        spec.random_val = True
        spec.val_transforms = pipe
    fast = build_data(spec)
    slow = build_data(DataSpec.from_dict({**spec.to_dict(), "in_memory": "off"}))
    assert fast.fast and not slow.fast
    for (a, ya), (b, yb) in zip(fast.train, slow.train):
        assert torch.equal(a, b) and torch.equal(ya, yb)
