"""Residual blocks and torchvision models as layers of a spec: shapes and parameter counts equal to the same
models written in torch directly, the plain-PyTorch code they export, one epoch of training, and the errors."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nbtrain as nb
from nbtrain import NbtrainError
from nbtrain.build.model import build
from nbtrain.spec import LayerSpec as L
from nbtrain.spec import ModelSpec
from nbtrain.widgets.presets import basic_block, resnet_blocks


# -- seed 004's ResNet, as the seed writes it (notebook 02b's copy: AdaptiveAvgPool2d for any input size) ------------
def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=10, in_channels=3):
        super().__init__()
        self.in_channels = 16
        self.conv = conv3x3(in_channels, 16)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self.make_layer(block, 16, layers[0])
        self.layer2 = self.make_layer(block, 32, layers[1], 2)
        self.layer3 = self.make_layer(block, 64, layers[2], 2)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def make_layer(self, block, out_channels, blocks, stride=1):
        downsample = None
        if stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(conv3x3(self.in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        layers = [block(self.in_channels, out_channels, stride, downsample)]
        self.in_channels = out_channels
        layers += [block(out_channels, out_channels) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.relu(self.bn(self.conv(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(self.avg_pool(out).flatten(1))


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cin, cout, stride", [(16, 16, 1), (16, 32, 2)])
def test_the_seed_block_as_a_residual_layer_is_the_hand_written_block(cin, cout, stride):
    """Same parameters, buffers and, with the hand-written block's weights loaded, the same output."""
    project = stride != 1 or cin != cout
    block = nb.build_model(ModelSpec(layers=[basic_block(cout, stride, project)]), (cin, 8, 8))[0]
    hand = ResidualBlock(cin, cout, stride, nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout))
                         if project else None)
    mine, theirs = block.state_dict(), hand.state_dict()
    assert [t.shape for t in mine.values()] == [t.shape for t in theirs.values()]
    assert _count(block) == _count(hand)
    block.load_state_dict(dict(zip(mine, theirs.values())))
    x = torch.randn(2, cin, 8, 8)
    block.eval(), hand.eval()
    assert torch.allclose(block(x), hand(x), atol=1e-6)
    assert block(x).shape == (2, cout, 8 // stride, 8 // stride)


def test_the_resnet_preset_is_seed_004s_resnet_and_trains_one_epoch():
    spec, shape = resnet_blocks(10), (1, 8, 8)
    s = nb.summary(spec, shape)
    hand = ResNet(ResidualBlock, [1, 1, 1], in_channels=1)
    assert s.total_params == _count(hand) == 98_234
    assert [r["params"] for r in s.rows[3:6]] == [_count(hand.layer1), _count(hand.layer2), _count(hand.layer3)]
    assert [r["output_shape"] for r in s.rows[3:6]] == [(16, 8, 8), (32, 4, 4), (64, 2, 2)] and s.output_shape == (10,)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, *shape, generator=g), torch.randint(0, 10, (64,), generator=g)
    model = nb.build_model(spec, shape)
    before = [p.detach().clone() for p in model.parameters()]
    hist = nb.fit(model=model, train=(x[:48], y[:48]), val=(x[48:], y[48:]), epochs=1, progress=False,
                  dashboard=False, doctor=False, logdir="", checkpoint_dir="", optimizer=torch.optim.SGD(
                      model.parameters(), lr=0.05))
    assert len(hist.epochs) == 1 and torch.isfinite(torch.tensor(hist.epochs[0]["val_loss"]))
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_model_code_defines_residual_and_builds_the_same_model():
    spec = resnet_blocks(10)
    spec.layers.insert(4, L("Residual", params={"body": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 1, "name": "a"}, {"type": "ReLU", "name": "b"}]}))
    code = nb.model_code(spec, (3, 16, 16))
    assert "class Residual(nn.Module):" in code and "shortcut=nn.Sequential(nn.Conv2d(16, 32, kernel_size=3, " \
        "stride=2, padding=1, bias=False), nn.BatchNorm2d(32))" in code and "('a', nn.Conv2d(" in code
    torch.manual_seed(0)
    ns = {}
    exec(compile(code, "<model_code>", "exec"), ns)
    torch.manual_seed(0)
    built = nb.build_model(spec, (3, 16, 16))
    assert [(n, p.shape) for n, p in ns["model"].named_parameters()] == [(n, p.shape) for n, p in built.named_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(ns["model"].parameters(), built.parameters()))


def test_the_shortcut_rule():
    """auto: the input itself when the body keeps the shape, else a 1x1 convolution with the body's stride and
    BatchNorm2d (images) or a Linear (features); identity refuses a body that changes the shape."""
    def block(body, shortcut="auto", shape=(4, 9, 9)):
        return build(ModelSpec(layers=[L("Residual", params={"body": body, "shortcut": shortcut})]), shape)

    keep = [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}]
    assert block(keep).model[0].shortcut is None
    down = [{"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "stride": 2}]
    b = block(down)
    conv = b.model[0].shortcut[0]
    assert (conv.kernel_size, conv.stride, conv.in_channels, conv.out_channels) == ((1, 1), (2, 2), 4, 8)
    assert b.shapes == [(8, 5, 5)]
    assert block(keep, "conv1x1").model[0].shortcut[0].kernel_size == (1, 1)
    flat = block([{"type": "Linear", "out_features": 3}], shape=(5,)).model[0]
    assert isinstance(flat.shortcut, nn.Linear) and flat(torch.zeros(2, 5)).shape == (2, 3)
    with pytest.raises(NbtrainError) as e:
        block(down, "identity")
    assert str(e.value) == ("model.layers[0] (Residual): the body turns (4, 9, 9) into (8, 5, 5): the input cannot be "
                            "added as it is (set shortcut to 'auto' (a projection), or make the body keep the shape)")
    with pytest.raises(NbtrainError) as e:
        block([{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}], "auto")
    assert str(e.value) == ("model.layers[0] (Residual): no strided convolution turns (4, 9, 9) into the body's "
                            "(4, 7, 7) (make the body keep the height and width, or divide both by its stride)")
    with pytest.raises(NbtrainError) as e:
        block([{"type": "Linear", "out_features": 0}])
    assert str(e.value).startswith("model.layers[0].body[0].out_features: must be >= 1, got 0")


def test_a_residual_round_trips_through_json_with_its_body():
    spec = resnet_blocks(3)
    back = ModelSpec.from_json(spec.to_json())
    assert back == spec and back.layers[4].params["body"][0]["stride"] == 2
    with pytest.raises(NbtrainError) as e:
        ModelSpec.from_dict({"layers": [{"type": "Residual", "body": [{"out_features": 3}]}]}, "model")
    assert str(e.value) == ("model.layers[0].body[0]: expected a layer (an object with a 'type'), got dict "
                            "(e.g. {'type': 'ReLU'})")


# -- torchvision.models ---------------------------------------------------------------------------------------------
def test_torchvision_resnet18_is_torchvisions_own_and_trains_one_epoch():
    import torchvision
    spec = ModelSpec(layers=[L("TorchvisionModel", params={"arch": "resnet18", "num_classes": 4})])
    assert ModelSpec.from_json(spec.to_json()) == spec
    model = nb.build_model(spec, (3, 32, 32))
    theirs = torchvision.models.resnet18(weights=None, num_classes=4)
    assert _count(model) == _count(theirs) == 11_178_564
    assert [n for n, _ in model[0].named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert nb.summary(spec, (3, 32, 32)).output_shape == (4,) and model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 3, 32, 32, generator=g), torch.randint(0, 4, (40,), generator=g)
    train = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=8, shuffle=True)      # 4 batches of FakeData-like
    before = model[0].fc.weight.detach().clone()
    hist = nb.fit(model=model, train=train, val=(x[32:], y[32:]), epochs=1, progress=False, dashboard=False,
                  doctor=False, logdir="", checkpoint_dir="")
    assert len(hist.epochs) == 1 and hist.epochs[0]["val_loss"] > 0
    assert not torch.equal(before, model[0].fc.weight)
    code = nb.model_code(spec, (3, 32, 32))
    assert "torchvision.models.get_model('resnet18', weights=None, num_classes=4)," in code
    ns = {}
    exec(code, ns)
    assert _count(ns["model"]) == _count(theirs)


def test_torchvision_models_refuse_weights_and_grey_images():
    spec = ModelSpec(layers=[L("TorchvisionModel", params={"arch": "mobilenet_v3_small", "num_classes": 2,
                                                           "weights": "IMAGENET1K_V1"})])
    with pytest.raises(NbtrainError) as e:
        nb.build_model(spec, (3, 32, 32))
    assert str(e.value) == (
        "model.layers[0] (TorchvisionModel): weights 'IMAGENET1K_V1' are not downloaded here: mobilenet_v3_small is "
        "built with random weights (weights=None) (leave weights empty; for pretrained weights build it yourself "
        "(torchvision.models.get_model(arch, weights=...)) and pass fit(model=...))")
    spec.layers[0].params["weights"] = ""
    assert nb.build_model(spec, (3, 32, 32))(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
    with pytest.raises(NbtrainError) as e:
        nb.build_model(spec, (1, 28, 28))
    assert str(e.value) == ("model.layers[0] (TorchvisionModel): takes 3-channel (RGB) images, got 1 channel (put "
                            "Conv2d(out_channels=3, kernel_size=1) before it, or use colour images (e.g. cifar10))")
