"""The generic editors: a catalog Entry's params and a spec dataclass's fields, driven by setting .value."""
import ipywidgets as W

from nbtrain.spec import LoopSpec
from nbtrain.spec.catalog import LAYERS, OPTIMIZERS, SCHEDULERS
from nbtrain.widgets.compat import tip_of
from nbtrain.widgets.fields import FieldsEditor
from nbtrain.widgets.params import ParamsEditor


def test_inputs_follow_the_catalog():
    ed = ParamsEditor(LAYERS["Conv2d"], {"out_channels": 8, "kernel_size": 3})
    f = ed.fields
    assert isinstance(f["out_channels"].input, W.IntText)
    assert isinstance(f["padding_mode"].input, W.Dropdown)
    assert f["padding_mode"].input.options == (("zeros", "zeros"), ("reflect", "reflect"),
                                              ("replicate", "replicate"), ("circular", "circular"))
    assert isinstance(f["bias"].input, W.Checkbox) and f["bias"].input.value is True
    assert isinstance(f["kernel_size"].input, W.Text) and f["kernel_size"].input.value == "3"
    assert tip_of(f["out_channels"].input) == "out_channels: number of filters (output channels)"
    drop = ParamsEditor(LAYERS["Dropout"], {})
    assert isinstance(drop.fields["p"].input, W.FloatSlider)            # both ends of the range: a slider
    assert (drop.fields["p"].input.min, drop.fields["p"].input.max) == (0.0, 1.0)


def test_a_bad_value_shows_a_message_and_keeps_the_last_valid_params():
    ed = ParamsEditor(LAYERS["Conv2d"], {"out_channels": 8, "kernel_size": 3})
    ed.fields["out_channels"].input.value = 0
    assert ed.value == {"out_channels": 8, "kernel_size": 3}
    assert ed.error == "out_channels: must be >= 1, got 0 (set out_channels to a value >= 1)"
    assert "must be &gt;= 1, got 0" in ed.fields["out_channels"].message.value
    ed.fields["kernel_size"].input.value = "3, 5"                        # lists typed with commas
    ed.fields["out_channels"].input.value = 16
    assert ed.value == {"out_channels": 16, "kernel_size": [3, 5]} and ed.error == ""
    assert ed.fields["out_channels"].message.value == ""
    ed.fields["kernel_size"].input.value = "three"
    assert ed.error == "kernel_size: cannot read 'three' (type a number, or numbers separated by commas)"
    assert ed.value["kernel_size"] == [3, 5]


def test_only_given_or_touched_params_are_written():
    ed = ParamsEditor(OPTIMIZERS["SGD"], {})
    assert ed.value == {}
    ed.fields["momentum"].input.value = 0.9
    ed.fields["nesterov"].input.value = True
    assert ed.value == {"momentum": 0.9, "nesterov": True}
    ed.fields["nesterov"].input.value = False                            # back to torch's default: dropped again
    assert ed.value == {"momentum": 0.9}


def test_required_params_start_with_a_valid_value_and_optional_ones_accept_empty():
    ed = ParamsEditor(SCHEDULERS["MultiStepLR"], {})
    assert ed.value == {"milestones": [10, 20]} and ed.error == ""
    ed.fields["milestones"].input.value = "5"
    assert ed.value == {"milestones": [5]}
    one = ParamsEditor(SCHEDULERS["OneCycleLR"], {"max_lr": 0.1, "total_steps": 50})
    one.fields["total_steps"].input.value = ""
    assert one.value == {"max_lr": 0.1, "total_steps": None}


def test_fields_editor_rebuilds_the_spec_and_reports_the_bad_field():
    loop = LoopSpec(epochs=3)
    ed = FieldsEditor(loop, ["epochs", "amp", "metrics"])
    assert isinstance(ed.inputs["amp"], W.Dropdown) and ed.inputs["amp"].options == ("off", "bf16", "fp16")
    ed.inputs["epochs"].value = 0
    assert ed.error == "epochs: must be >= 1, got 0" and ed.value.epochs == 3
    assert "must be &gt;= 1" in ed.messages["epochs"].value
    ed.inputs["epochs"].value = 5
    assert isinstance(ed.inputs["metrics"], W.SelectMultiple)          # picked from the catalog, no JSON
    assert ed.inputs["metrics"].options == ("accuracy", "mae", "topk_accuracy")
    ed.inputs["metrics"].value = ("accuracy", "topk_accuracy")
    assert ed.value == LoopSpec(epochs=5, metrics=["accuracy", "topk_accuracy"]) and ed.error == ""
    assert ed.inputs["epochs"].description == "epochs" and ed.inputs["amp"].description == "mixed precision"
    assert tip_of(ed.inputs["amp"]).startswith("amp: mixed precision: off, bf16, fp16")


def test_device_is_a_dropdown_of_this_machines_devices_and_zero_patience_says_off():
    import torch
    ed = FieldsEditor(LoopSpec(), ["device", "early_stopping"])
    dev = ed.inputs["device"]
    assert isinstance(dev, W.Dropdown) and dev.options[:2] == ("auto", "cpu")
    assert len([o for o in dev.options if o.startswith("cuda:")]) == torch.cuda.device_count()
    dev.value = "cpu"
    assert ed.value.device == "cpu"
    stop = ed.inputs["early_stopping"]
    assert isinstance(stop, W.Dropdown) and stop.options[0] == ("off", 0) and stop.value == 0
    stop.value = 5
    assert ed.value.early_stopping == 5
    ed.set_spec(LoopSpec(early_stopping=7, device="cuda:3"))       # a loaded value not in the list is added
    assert stop.value == 7 and dev.value == "cuda:3"


def test_fields_editor_reads_json_and_plain_text_for_a_union_with_str():
    from nbtrain.spec import DataSpec
    ed = FieldsEditor(DataSpec(), ["target", "image_shape"])
    ed.inputs["target"].value = "species"
    assert ed.value.target == "species"
    ed.inputs["target"].value = "2"
    assert ed.value.target == 2
    assert ed.inputs["image_shape"].value == "1, 28, 28"                # no brackets to type
    ed.inputs["image_shape"].value = "[3, 32"
    assert ed.error == "image_shape: cannot read '[3, 32' (type values separated by commas, e.g. 1, 28, 28)"
    ed.inputs["image_shape"].value = "3, 32, 32"
    assert ed.value.image_shape == [3, 32, 32] and ed.error == ""
