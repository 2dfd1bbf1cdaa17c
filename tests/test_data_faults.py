"""Doctor and data (issue 24): NaN or inf in the data, a loss that explodes, labels out of range anywhere in the data,
a symlink loop in an image folder; each one clear message (what, where, the fix), found before or while training."""
import json
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nbtrain
from nbtrain.build.data import build_data
from nbtrain.errors import DataError, NbtrainError
from nbtrain.sinks.doctor import DoctorWarning
from nbtrain.sinks.runinfo import RunInfo
from nbtrain.spec import DataSpec

CLEAN = "(clean the data before training: drop those samples, or fill the gaps (torch.nan_to_num(x), pandas' fillna))"


def _xy(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.arange(n) % 3


def test_nan_or_inf_in_in_memory_data_is_one_error_before_training():
    x, y = _xy()
    xv, yv = _xy(seed=1)
    xv[3, 1], xv[9, 0] = float("nan"), float("inf")
    with pytest.raises(DataError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=(x, y), val=(xv, yv), epochs=1, progress=False)
    assert str(e.value) == f"fit(val=(x, y)): 2 of 64 samples hold NaN or inf values (the first: sample 3) {CLEAN}"
    x[40, 2] = -float("inf")
    with pytest.raises(DataError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=(x, y), epochs=1, progress=False)
    assert str(e.value) == f"fit(train=(x, y)): 1 of 64 samples holds NaN or inf values (the first: sample 40) {CLEAN}"


def test_nan_in_validation_data_of_a_dataloader_is_said_at_the_epoch_end():
    """A DataLoader's samples are not read before training: the validation loss says it, once, in the record."""
    x, y = _xy()
    xv, yv = _xy(seed=1)
    xv[5, 0] = float("nan")
    val = DataLoader(TensorDataset(xv, yv), batch_size=16)
    with pytest.warns(RuntimeWarning) as w:
        h = nbtrain.fit(model=nn.Linear(4, 3), train=(x, y), val=val, epochs=2, progress=False, doctor=False)
    said = ("epoch 1: the validation loss is nan while the training loss is finite: the validation data holds NaN or "
            "inf values, or the model overflows on them (check the inputs with torch.isfinite(x).all(); drop or fill "
            "those samples)")
    assert [str(m.message) for m in w if "validation loss" in str(m.message)] == [said]
    assert [n for n in h.notes if "validation loss" in str(n)] == [said] and h.status == "finished"


def _fit_at(lr):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nbtrain.fit(model=model, train=(x, y), optimizer=torch.optim.Adam(model.parameters(), lr=lr), epochs=2,
                    log_every=2, progress=False)
    return [str(m.message) for m in w if issubclass(m.category, DoctorWarning) and "loss is" in str(m.message)]


def test_a_loss_that_explodes_is_said_with_the_fix():
    said = _fit_at(1000.0)       # Adam at lr 1000: a loss of millions from the first log point, no rising trend
    assert len(said) == 1 and said[0].startswith("the loss is "), said
    assert said[0].endswith(", a cross-entropy above 50, which gives the right class a probability below e^-50: the "
                            "weights diverged (lower the learning rate: it is 1000, and Adam usually trains near "
                            "0.001, or set grad_clip=1.0)"), said
    assert _fit_at(0.01) == []   # the same run at a usual LR: no such word


def test_a_label_out_of_range_anywhere_in_tensors_is_found_before_training():
    x, y = _xy()
    yv = _xy(seed=1)[1].clone()
    yv[50] = 10                  # in validation, not in the first batch: torch's IndexError after an epoch before
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=(x, y), val=(x, yv), epochs=1, progress=False)
    assert str(e.value) == ("model (last layer): the model outputs 3 values per sample but the validation labels go up "
                            "to class 10 (sample 50) (set the last layer's out_features to 11, or fix those labels "
                            "(0 to 2))")
    y[7] = -1
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=(x, y), epochs=1, progress=False)
    assert str(e.value) == ("training data: the training labels hold class -1 (sample 7), but class indices start at 0 "
                            "(relabel the classes 0 to 2)")


def test_a_label_out_of_range_in_a_dataloader_is_one_clear_error_and_the_record_says_so(tmp_path):
    """A DataLoader over a dataset without ``targets``: its labels are met in validation; torch's IndexError
    becomes one error, and the run's last.pt (the record in it) says what happened."""
    x, y = _xy()
    yv = y.clone()
    yv[50] = 10
    val = DataLoader(TensorDataset(x, yv), batch_size=16)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=nn.Linear(4, 3), train=(x, y), val=val, epochs=1, progress=False,
                    callbacks=[RunInfo(tmp_path)])
    assert str(e.value) == ("data (labels): a label is not a class of the model's outputs (torch: Target 10 is out of "
                            "bounds.) (class indices must run from 0 to the model's outputs - 1: fix the labels or the "
                            "last layer's out_features; a dataset with .targets, or tensors (train=(x, y)), has every "
                            "label checked before training)")
    record = json.loads((tmp_path / "nbtrain-run.json").read_text())
    assert (record["status"], record["stop_reason"]) == ("error", f"error: NbtrainError: {e.value}")


def _images(folder, n):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")


def test_a_symlink_loop_in_an_image_folder_is_one_error_and_links_elsewhere_are_followed(tmp_path):
    root = tmp_path / "imgs"
    _images(root / "cat", 4)
    _images(tmp_path / "elsewhere" / "dogs", 4)
    os.symlink(tmp_path / "elsewhere" / "dogs", root / "dog")          # a class folder that links elsewhere: read
    spec = DataSpec(dataset="image_folder", path=str(root), batch_size=4, val_split=0.25)
    b = build_data(spec)
    assert b.class_names == ["cat", "dog"] and len(b.train.dataset) + len(b.val.dataset) == 8
    os.symlink(root, root / "cat" / "again")                         # a loop: 8 images became 168 samples
    with pytest.raises(DataError) as e:
        build_data(spec)
    assert str(e.value) == (f"{root}: the symbolic link '{root}/cat/again' leads to '{root}', a folder read already, "
                            f"so its images would count again (a link loop) (remove the link, or point it to a folder "
                            f"outside '{root}')")
