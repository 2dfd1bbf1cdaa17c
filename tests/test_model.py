
import pytest
import torch
from torch import nn

import nbtrain as nb
from nbtrain import NbtrainError
from nbtrain.spec import LayerSpec as L
from nbtrain.spec import ModelSpec, TrainSpec


def seed003_spec() -> ModelSpec:
    """Seed 003's OrderedDict conv net, with its layer names."""
    return ModelSpec(layers=[
        L("Conv2d", "conv1", params={"out_channels": 6, "kernel_size": 5}), L("ReLU", "relu1"),
        L("MaxPool2d", "pool1", params={"kernel_size": 2}),
        L("Conv2d", "conv2", params={"out_channels": 16, "kernel_size": 5}), L("ReLU", "relu2"),
        L("MaxPool2d", "pool2", params={"kernel_size": 2}),
        L("Flatten", "flatten"), L("Linear", "fc1", params={"out_features": 120}), L("ReLU", "relu3"),
        L("Linear", "fc2", params={"out_features": 84}), L("ReLU", "relu4"), L("Linear", "fc3", params={"out_features": 10}),
    ])


def test_default_model_shapes_and_counts_match_torch():
    model = nb.build_model(TrainSpec.default().model, (1, 28, 28))
    assert isinstance(model, nn.Sequential)
    assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    by_hand = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    assert [p.shape for p in model.parameters()] == [p.shape for p in by_hand.parameters()]
    s = nb.summary(TrainSpec.default(), (1, 28, 28))
    assert s.total_params == sum(p.numel() for p in by_hand.parameters()) == 52138
    assert [r["params"] for r in s.rows] == [sum(p.numel() for p in m.parameters()) for m in by_hand]
    assert [r["output_shape"] for r in s.rows][:3] == [(8, 28, 28), (8, 28, 28), (8, 14, 14)]
    assert s.output_shape == (10,)


def test_ordered_dict_model_keeps_names():
    model = nb.build_model(seed003_spec(), (1, 32, 32))
    assert [n for n, _ in model.named_children()][:3] == ["conv1", "relu1", "pool1"]
    assert model.fc1.in_features == 16 * 5 * 5
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_auto_features_inferred():
    spec = ModelSpec(layers=[L("Conv1d", params={"out_channels": 4, "kernel_size": 3}), L("BatchNorm1d"),
                             L("Flatten"), L("LayerNorm"), L("Linear", params={"out_features": 2})])
    model = nb.build_model(spec, (3, 10))
    assert model[0].in_channels == 3 and model[1].num_features == 4
    assert model[3].normalized_shape == (32,) and model[4].in_features == 32


def test_summary_counts_trainable_separately():
    model = nb.build_model(TrainSpec.default().model, (1, 28, 28))
    for p in model[0].parameters():
        p.requires_grad_(False)
    s = nb.summary(model, (1, 28, 28))
    assert s.rows[0]["params"] == 80 and s.rows[0]["trainable"] == 0
    assert s.trainable_params == s.total_params - 80
    text = str(s)
    assert "Conv2d" in text and "(16, 7, 7)" in text and "Total params: 52,138   Trainable: 52,058" in text
    assert "<table" in s._repr_html_() and "52,138" in s._repr_html_()


def test_init_global_and_per_layer():
    spec = ModelSpec(layers=[L("Linear", params={"in_features": 4, "out_features": 3}, init="constant"),
                             L("Linear", params={"out_features": 3}, init="eye"), L("Linear", params={"out_features": 2})],
                     init="zeros")
    spec = ModelSpec.from_dict(spec.to_dict(), "model")
    model = nb.build_model(spec, (4,))
    assert torch.equal(model[0].weight, torch.zeros(3, 4))          # constant's default val is 0.0
    assert torch.equal(model[1].weight, torch.eye(3))
    assert torch.equal(model[2].weight, torch.zeros(2, 3))          # the model's init


def test_kaiming_init_statistics():
    torch.manual_seed(0)
    spec = ModelSpec(layers=[L("Linear", params={"out_features": 500})], init="kaiming_normal",
                     init_params={"nonlinearity": "relu"})
    w = nb.build_model(ModelSpec.from_dict(spec.to_dict()), (400,))[0].weight
    assert abs(w.std().item() - (2 / 400) ** 0.5) < 0.003


def test_model_code_execs_to_the_same_model():
    for spec, shape in [(TrainSpec.default().model, (1, 28, 28)), (seed003_spec(), (1, 32, 32))]:
        code = nb.model_code(spec, shape)
        ns = {}
        exec(compile(code, "<model_code>", "exec"), ns)
        built = nb.build_model(spec, shape)
        got = ns["model"]
        assert [(n, type(m)) for n, m in got.named_children()] == [(n, type(m)) for n, m in built.named_children()]
        assert [(n, p.shape) for n, p in got.named_parameters()] == [(n, p.shape) for n, p in built.named_parameters()]
    assert "OrderedDict([" in nb.model_code(seed003_spec(), (1, 32, 32))


def test_model_code_includes_init():
    spec = ModelSpec(layers=[L("Linear", params={"out_features": 3})], init="kaiming_normal",
                     init_params={"nonlinearity": "relu"})
    code = nb.model_code(ModelSpec.from_dict(spec.to_dict()), (4,))
    assert "nn.init.kaiming_normal_(model[0].weight, a=0, mode='fan_in', nonlinearity='relu')" in code
    exec(code, {})


def _err(spec, shape) -> str:
    with pytest.raises(NbtrainError) as e:
        nb.build_model(spec, shape)
    return str(e.value)


def test_linear_after_conv_without_flatten():
    spec = ModelSpec(layers=[L("Conv2d", params={"out_channels": 4, "kernel_size": 3, "padding": 1}),
                             L("Linear", params={"in_features": 100, "out_features": 10})])
    assert _err(spec, (1, 8, 8)) == ("model.layers[1] (Linear): expects 100 input features, got input of shape "
                                     "(4, 8, 8) (add a Flatten before it; then in_features is 256 (or set it to 'auto'))")


def test_wrong_in_features_after_flatten():
    spec = ModelSpec(layers=[L("Flatten"), L("Linear", "fc", params={"in_features": 10, "out_features": 2})])
    assert _err(spec, (1, 3, 3)) == "model.layers[1] (Linear 'fc'): expects 10 input features, got 9 (set in_features to 9 or 'auto')"


def test_conv2d_on_flat_input():
    spec = ModelSpec(layers=[L("Conv2d", params={"out_channels": 4, "kernel_size": 3})])
    assert _err(spec, (64,)) == ("model.layers[0] (Conv2d): needs input of shape (C, H, W), got (64,) "
                                 "(it needs image-shaped input; for flat features use Linear)")


def test_kernel_larger_than_input():
    spec = ModelSpec(layers=[L("Conv2d", params={"out_channels": 4, "kernel_size": 5})])
    msg = _err(spec, (1, 3, 3))
    assert msg.startswith("model.layers[0] (Conv2d): does not fit input of shape (1, 3, 3): ")
    assert msg.endswith("(make the kernel/window smaller, add padding, or remove a pooling layer before it)")


def test_eye_on_conv_weight_is_a_clear_error():
    spec = ModelSpec(layers=[L("Conv2d", params={"out_channels": 4, "kernel_size": 3}, init="eye")])
    msg = _err(spec, (1, 8, 8))
    assert msg.startswith("model.layers[0].init: eye cannot initialise a weight of shape (4, 1, 3, 3)")


def test_empty_model():
    assert _err(ModelSpec(), (4,)) == "model.layers: the model has no layers (add layers, e.g. Flatten then Linear)"


def test_layer_made_in_python_is_checked():
    assert _err(ModelSpec(layers=[L("Flatten"), L("Linear")]), (4,)) == \
        "model.layers[1]: Linear needs 'out_features' (add out_features: size of each output sample)"


def test_shapes_are_inferred_on_the_meta_device_without_running_the_layers():
    """A 4096x4096 RGB input through 64 filters: 8.6 GB of activations on real zeros, none on meta."""
    spec = ModelSpec(layers=[L("Conv2d", params={"out_channels": 64, "kernel_size": 3, "padding": 1}),
                             L("MaxPool2d", params={"kernel_size": 4}), L("AdaptiveAvgPool2d", params={"output_size": 2}),
                             L("Flatten"), L("Linear", params={"out_features": 10})])
    built = nb.summary(spec, (3, 4096, 4096))
    assert [r["output_shape"] for r in built.rows] == [(64, 4096, 4096), (64, 1024, 1024), (64, 2, 2), (256,), (10,)]
    model = nb.build_model(ModelSpec(layers=[L("Linear", params={"out_features": 2})]), (3,))
    assert model(torch.ones(1, 3)).shape == (1, 2)           # the model itself stays real, on the CPU


def test_summary_of_a_model_that_cannot_run_on_meta_runs_it_on_zeros():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x[:, : int(x.abs().sum().item()) + 2]       # .item() has no meaning on meta tensors

    model = nn.Sequential(nn.Linear(4, 5), DataDependent()).train()
    model[0].eval()
    s = nb.summary(model, (4,))
    assert [r["output_shape"] for r in s.rows][0] == (5,) and len(s.rows) == 2
    assert model.training and not model[0].training           # every module's own mode is put back
