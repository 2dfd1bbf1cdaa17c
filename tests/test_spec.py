import json

import pytest

from nbtrain import NbtrainError
from nbtrain.spec import (
    DataSpec,
    LayerSpec,
    LoopSpec,
    ModelSpec,
    OptimSpec,
    ParamGroupSpec,
    SchedSpec,
    TrainSpec,
    TransformSpec,
)


def _full_spec() -> TrainSpec:
    s = TrainSpec.default()
    s.model.layers[0].name = ""
    s.model.init, s.model.init_params = "kaiming_normal", {"nonlinearity": "relu"}
    s.model.layers[7].init = "xavier_uniform"
    s.optim = OptimSpec("SGD", lr=0.01, params={"momentum": 0.9, "nesterov": True},
                        groups=[ParamGroupSpec("9", lr=1e-3, weight_decay=1e-4)])
    s.sched = SchedSpec("OneCycleLR", params={"max_lr": 0.1, "pct_start": 0.25}, warmup=0)
    s.loop = LoopSpec(epochs=4, metrics=["accuracy", "topk_accuracy"], topk=3, amp="bf16")
    s.data.train_transforms.insert(1, TransformSpec("Resize", {"size": [28, 28]}))
    return s


def test_default_is_small_cnn_for_digits():
    s = TrainSpec.default()
    assert s.data.dataset == "digits"
    assert [l.type for l in s.model.layers][:1] == ["Conv2d"]
    assert s.model.layers[-1].params["out_features"] == 10


@pytest.mark.parametrize("make", [TrainSpec.default, _full_spec])
def test_json_round_trip_is_exact(make):
    s = make()
    text = s.to_json()
    back = TrainSpec.from_json(text)
    assert back == s
    assert back.to_json() == text
    assert TrainSpec.from_dict(json.loads(text)).to_dict() == s.to_dict()


def test_components_are_written_flat():
    d = LayerSpec("Linear", name="fc1", params={"out_features": 10}).to_dict()
    assert d == {"type": "Linear", "name": "fc1", "init": "", "out_features": 10}


def _bad(path_value, mutate):
    d = TrainSpec.default().to_dict()
    mutate(d)
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict(d)
    return str(e.value)


def test_wrong_type_names_the_field_path():
    msg = _bad(None, lambda d: d["model"]["layers"][9].__setitem__("out_features", "abc"))
    assert msg == "model.layers[9].out_features: expected int, got 'abc'"


def test_unknown_key_is_rejected():
    msg = _bad(None, lambda d: d["loop"].__setitem__("epochz", 3))
    assert msg.startswith("loop.epochz: unknown key 'epochz' (known keys: epochs, loss,")


def test_unknown_layer_parameter_is_rejected():
    msg = _bad(None, lambda d: d["model"]["layers"][0].__setitem__("out_features", 3))
    assert msg == ("model.layers[0].out_features: unknown parameter 'out_features' for Conv2d (known parameters: "
                   "in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode)")


def test_unknown_names_list_close_matches():
    assert _bad(None, lambda d: d["model"]["layers"][0].__setitem__("type", "Conv2D")) == \
        "model.layers[0].type: unknown layer 'Conv2D' (did you mean 'Conv2d' or 'Conv1d'?)"
    assert _bad(None, lambda d: d["optim"].__setitem__("type", "adamw")) == \
        "optim.type: unknown optimizer 'adamw' (did you mean 'AdamW' or 'Adam' or 'RAdam'?)"
    assert _bad(None, lambda d: d["sched"].__setitem__("type", "StepLr")) == \
        "sched.type: unknown scheduler 'StepLr' (did you mean 'StepLR' or 'MultiStepLR' or 'ConstantLR'?)"


def test_lr_must_be_positive():
    assert _bad(None, lambda d: d["optim"].__setitem__("lr", 0)) == \
        "optim.lr: must be > 0, got 0 (set lr to a value > 0, e.g. 1e-3)"
    assert _bad(None, lambda d: d["optim"].__setitem__("groups", [{"pattern": "9", "lr": -1}])) == \
        "optim.groups[0].lr: must be > 0, got -1 (set lr to a value > 0, e.g. 1e-3)"


def test_multistep_milestones_must_increase():
    msg = _bad(None, lambda d: d.__setitem__("sched", {"type": "MultiStepLR", "milestones": [5, 3, 8]}))
    assert msg == "sched.milestones: milestones must be strictly increasing, got [5, 3, 8] (use [3, 5, 8])"


def test_range_and_required_params():
    assert _bad(None, lambda d: d["model"]["layers"][0].__setitem__("kernel_size", 0)) == \
        "model.layers[0].kernel_size: must be >= 1, got 0 (set kernel_size to a value >= 1)"
    msg = _bad(None, lambda d: d["model"]["layers"][9].pop("out_features"))
    assert msg == "model.layers[9]: Linear needs 'out_features' (add out_features: size of each output sample)"


def test_spec_file_that_is_not_json():
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_json("model: [Linear]")
    assert str(e.value).startswith("TrainSpec: not valid JSON: Expecting value at line 1 column 1")


def test_load_missing_file(tmp_path):
    with pytest.raises(NbtrainError, match="spec file not found"):
        TrainSpec.load(tmp_path / "nope.json")


def test_save_and_load(tmp_path):
    s = _full_spec()
    s.save(tmp_path / "s.json")
    assert TrainSpec.load(tmp_path / "s.json") == s


def test_names_all_or_none():
    m = ModelSpec(layers=[LayerSpec("Flatten", name="flat"), LayerSpec("Linear", params={"out_features": 2})])
    with pytest.raises(NbtrainError) as e:
        ModelSpec.from_dict(m.to_dict(), "model")
    assert str(e.value) == ("model.layers[1].name: some layers are named and this one is not "
                            "(name every layer (OrderedDict model) or none (plain Sequential))")


def test_data_spec_choice_field():
    with pytest.raises(NbtrainError) as e:
        DataSpec.from_dict({"in_memory": "maybe"}, "data")
    assert str(e.value) == "data.in_memory: expected one of 'auto', 'on', 'off', got 'maybe'"


def test_a_spec_with_more_layers_than_the_cap_is_one_clear_error_at_once():
    from nbtrain.spec import LayerSpec, ModelSpec, TrainSpec
    spec = TrainSpec.default().to_dict()
    spec["model"]["layers"] = [{"type": "ReLU"}] * 10_001
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict(spec)
    assert str(e.value) == ("model.layers: 10001 layers, more than the 10000 a spec may hold (build a model this large "
                            "in Python and pass it to fit(model=...))")
    assert len(ModelSpec(layers=[LayerSpec("ReLU")] * 10_000).layers) == 10_000
