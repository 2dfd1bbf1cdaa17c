"""TransformPicker driven in-process: pipelines, the sample grid image, mean/std into Normalize, code."""
import io

import pytest

from nbtrain.spec import DataSpec, TrainSpec, TransformSpec
from nbtrain.widgets import TransformPicker


def _png_size(png: bytes):
    from PIL import Image
    return Image.open(io.BytesIO(png)).size


def test_round_trips_a_data_spec():
    spec = TrainSpec.default().data
    spec.train_transforms.insert(0, TransformSpec("RandomRotation", {"degrees": 10.0}))
    spec.batch_size, spec.val_split = 32, 0.25
    p = TransformPicker(spec, preview=False)
    assert p.spec == spec and p.error == ""
    assert TransformPicker(DataSpec.from_json(p.spec.to_json()), preview=False).spec == spec


def test_editing_the_pipeline_changes_spec_grid_and_code():
    p = TransformPicker(TrainSpec.default().data, n_samples=4)
    assert p.image.png == b"" and p.image.layout.display == "none"    # the grid is made when first shown
    p.show_samples.value = True
    p.show_code.value = True
    first = p.image.png
    assert first.startswith(b"\x89PNG") and p.grid_png == first
    p.train.add_type.value = "RandomRotation"
    p.train.rows[0].buttons["insert"].click()
    assert [t.type for t in p.spec.train_transforms] == ["RandomRotation", "ToTensor", "Normalize"]
    p.train.rows[0].params.fields["degrees"].input.value = "45"
    assert p.spec.train_transforms[0].params == {"degrees": 45.0}
    assert p.image.png != first
    assert "v2.RandomRotation(degrees=45.0)" in p.code.value
    p.train.rows[0].buttons["delete"].click()
    assert [t.type for t in p.spec.train_transforms] == ["ToTensor", "Normalize"]


def test_a_bad_pipeline_shows_the_error_and_keeps_the_spec():
    spec = TrainSpec.default().data
    p = TransformPicker(spec, preview=False)
    p.val.add_type.value = "RandomHorizontalFlip"
    p.val.add_button.click()
    assert p.error == ("data.val_transforms[2] (RandomHorizontalFlip): random transform in the validation pipeline "
                       "(remove it from val_transforms, or set random_val=True to allow it)")
    assert p.spec == spec and p.val.rows[2].layout.border and "random transform" in p.val.rows[2].message.value
    assert p.message.value == ""                                       # shown once: on its row
    p.val.rows[2].buttons["delete"].click()
    assert p.error == "" and not p.val.rows[1].layout.border
    p.train.rows[1].params.fields["mean"].input.value = "0.1, 0.2"     # 2 means for 1 channel
    assert p.error.startswith("data.train_transforms[1] (Normalize): mean has 2 and std has 1 values")
    assert p.spec == spec and p.train.rows[1].layout.border


def test_mean_std_button_fills_normalize():
    spec = DataSpec(dataset="digits", train_transforms=[TransformSpec("ToTensor")],
                    val_transforms=[TransformSpec("ToTensor")])
    p = TransformPicker(spec, preview=False)
    p.stats_button.click()
    from nbtrain.build.data import normalize_stats
    mean, std = normalize_stats(spec)
    for pipe in (p.spec.train_transforms, p.spec.val_transforms):
        assert [t.type for t in pipe] == ["ToTensor", "Normalize"]
        assert pipe[1].params["mean"] == pytest.approx(mean, abs=1e-4)
        assert pipe[1].params["std"] == pytest.approx(std, abs=1e-4)
    p.train.rows[1].params.fields["mean"].input.value = "0.1"
    p.stats_button.click()                                           # an existing Normalize is overwritten
    assert p.spec.train_transforms[1].params["mean"] == pytest.approx(mean, abs=1e-4)
    assert len(p.spec.train_transforms) == 2


def test_dataset_and_loader_fields():
    p = TransformPicker(TrainSpec.default().data, preview=False)
    p.fields.inputs["batch_size"].value = 0
    assert p.error == "batch_size: must be >= 1, got 0" and p.spec.batch_size == 64
    p.fields.inputs["batch_size"].value = 16
    p.fields.inputs["val_split"].value = 0.5
    assert (p.spec.batch_size, p.spec.val_split, p.error) == (16, 0.5, "")


def test_each_dataset_shows_the_fields_it_reads():
    p = TransformPicker(TrainSpec.default().data, preview=False)
    shown = lambda: {n for n, r in p.fields.rows.items() if r.layout.display != "none"}
    assert {"image_size", "batch_size"} <= shown() and "path" not in shown()
    p.train.set_value([])
    p.val.set_value([])
    p.fields.inputs["dataset"].value = "iris"
    assert "standardize" in shown() and "image_size" not in shown()
    assert p.spec.dataset == "iris" and p.info == ((4,), 3, 2) and p.error == ""
    assert p.pipelines.layout.display == "none"                  # no image pipelines for a table
    p.show_samples.value = True                                     # what "samples" shows for a table
    assert p.image_message.value == "(a tabular dataset: no images to show)" and p.image.layout.display == "none"
    p.show_samples.value = False
    p.fields.inputs["dataset"].value = "csv"
    assert {"path", "target", "delimiter"} <= shown()
    assert p.error.startswith("data.path") and p.spec.dataset == "iris"       # no file yet: iris is kept


def test_switching_to_a_tabular_set_clears_the_image_pipelines_and_back():
    spec = TrainSpec.default().data
    p = TransformPicker(spec, preview=False)
    p.fields.inputs["dataset"].value = "iris"
    assert p.error == "" and p.spec.dataset == "iris" and p.spec.train_transforms == [] == p.spec.val_transforms
    assert p.info == ((4,), 3, 2) and "iris is a tabular set: image transforms cleared." in p.notice.value
    assert p.pipelines.layout.display == "none"
    p.fields.inputs["dataset"].value = "wine"
    assert p.error == "" and p.info[0] == (13,)
    p.fields.inputs["dataset"].value = "digits"                       # an image set gets its pipelines back
    assert p.error == "" and p.spec == spec and p.notice.value == "" and p.pipelines.layout.display == ""
