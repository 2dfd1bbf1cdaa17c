"""A corrupt image in an image folder and a model with nothing to train: one clear error each, not PIL's or torch's
(issue 24, fault-sweep findings 7 and 8)."""
import numpy as np
import pytest
import torch
from test_loop_spec import small_spec
from torch import nn

import nbtrain
from nbtrain import DataSpec, build_data
from nbtrain import TransformSpec as T
from nbtrain.errors import DataError, NbtrainError
from nbtrain.spec import LayerSpec


def test_a_corrupt_png_in_an_image_folder_names_the_file(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    bad = tmp_path / "dog" / "3.png"
    bad.write_bytes(b"\x89PNG not really")
    pipe = [T("ToTensor")]
    spec = DataSpec(dataset="image_folder", path=str(tmp_path), train_transforms=pipe, val_transforms=pipe,
                    val_split=0.5, batch_size=8, shuffle=False)
    with pytest.raises(DataError) as e:
        b = build_data(spec)
        for loader in (b.train, b.val):
            list(loader)
    assert str(e.value) == (f"{bad}: cannot read this image (UnidentifiedImageError: cannot identify image file) "
                            "(remove the file or replace it with a readable image (.png, .jpg, ...))")
    bad.unlink()
    b = build_data(spec)
    assert sum(len(y) for _, y in b.train) + sum(len(y) for _, y in b.val) == 7


def test_a_model_with_no_parameters_to_train_is_one_clear_error():
    torch.set_num_threads(1)
    x, y = torch.randn(16, 4), torch.arange(16) % 4
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Identity(), train=(x, y), epochs=1, progress=False)
    assert str(e.value) == ("fit(model=...): the model has no parameters to train (none of its layers learns, e.g. "
                            "only activations, Flatten or Identity) (add a layer with weights, e.g. nn.Linear or "
                            "nn.Conv2d)")
    frozen = nn.Linear(4, 4).requires_grad_(False)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=frozen, train=(x, y), epochs=1, progress=False)
    assert str(e.value) == ("fit(model=...): the model has no parameters to train (every parameter has "
                            "requires_grad=False) (unfreeze some: p.requires_grad_(True))")
    spec = small_spec(epochs=1)
    spec.model.layers = [LayerSpec("Flatten"), LayerSpec("ReLU")]
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, progress=False)
    assert str(e.value).startswith("model.layers: the model has no parameters to train (none of its layers learns")
