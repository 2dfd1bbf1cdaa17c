import pytest
import torch
from torch import nn

from nbtrain.errors import NbtrainError
from nbtrain.train import features


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Dropout(0.5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))


def test_capture_returns_each_conv_output_in_eval_mode_and_cleans_up():
    m = _model()
    m.train()
    m[1].eval()                                      # a mixed mode must come back as it was
    x = torch.randn(2, 1, 8, 8)
    maps = features.capture(m, x)
    assert list(maps) == ["0", "4"] == features.conv_layers(m)
    assert maps["0"].shape == (2, 4, 8, 8) and maps["4"].shape == (2, 6, 2, 2)
    assert torch.allclose(maps["0"], m[0](x)) and not maps["0"].requires_grad
    assert m.training and m[0].training and not m[1].training
    assert all(not mod._forward_hooks for mod in m.modules())


def test_capture_is_deterministic_with_dropout_because_it_runs_in_eval_mode():
    m = _model().train()
    x = torch.randn(1, 1, 8, 8)
    assert torch.equal(features.capture(m, x, ["4"])["4"], features.capture(m, x, ["4"])["4"])


def test_capture_restores_and_unhooks_on_error():
    m = _model().train()
    with pytest.raises(RuntimeError):
        features.capture(m, torch.randn(1, 3, 8, 8))      # wrong channel count
    assert m.training and all(not mod._forward_hooks for mod in m.modules())


def test_unknown_layer_is_one_clear_error():
    with pytest.raises(NbtrainError) as e:
        features.capture(_model(), torch.randn(1, 1, 8, 8), ["conv9"])
    assert str(e.value) == "capture(layers=...): no layer named 'conv9' (choose from: 0, 4)"


def test_kernels_are_copies():
    m = _model()
    k = features.kernels(m)
    assert k["0"].shape == (4, 1, 3, 3) and k["4"].shape == (6, 4, 3, 3)
    k["0"].zero_()
    assert m[0].weight.abs().sum() > 0


def test_a_model_without_convs_is_not_run():
    calls = []
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    m.register_forward_hook(lambda *a: calls.append(1))
    assert features.capture(m, torch.randn(1, 4)) == {} and calls == [] and features.kernels(m) == {}
