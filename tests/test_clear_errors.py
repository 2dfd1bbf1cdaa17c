"""Checkpoints checked against the run on resume (layer types, entries an edit removed) and raw errors made clear:
a forward that returns a tuple, a layer named like an nn.Module attribute, a meta-device model (issue 24)."""
from collections import OrderedDict

import pytest
import torch
from test_loop_spec import small_spec
from torch import nn

import nbtrain
from nbtrain.errors import NbtrainError, SpecError
from nbtrain.spec import LayerSpec, TrainSpec

KEEP = ("resume with the spec the checkpoint was saved with (it is stored in checkpoint['spec']), or start a new run)")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One epoch of a two-epoch run, its last.pt."""
    d = tmp_path_factory.mktemp("ck")
    nbtrain.fit(small_spec(epochs=2, checkpoint_dir=str(d), run_name="r"), epochs=1, progress=False, doctor=False)
    return d / "r" / "last.pt"


def _edited(saved, tmp_path, **edit):
    ck = torch.load(saved, weights_only=True)
    for k, v in edit.items():
        if v is None:
            del ck[k]
        else:
            ck[k] = v
    torch.save(ck, tmp_path / "edited.pt")
    return tmp_path / "edited.pt"


def test_a_spec_with_tanh_for_relu_does_not_resume_silently(saved, tmp_path):
    spec = small_spec(epochs=2, checkpoint_dir=str(tmp_path), run_name="r")
    spec.model.layers[1] = LayerSpec("Tanh")       # no parameters: the state_dict alone cannot tell
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, resume=saved, progress=False)
    assert str(e.value) == f"{saved}: the checkpoint's model has other layers: '1' is ReLU there and Tanh here ({KEEP}"
    spec.model.layers[1] = LayerSpec("ReLU")
    spec.model.layers.append(LayerSpec("Identity"))   # one layer more: the weights fit, the count does not
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, resume=saved, progress=False)
    assert str(e.value) == f"{saved}: the checkpoint's model has 5 layers, this run's model 6 ({KEEP}"


def test_a_checkpoint_without_the_layer_list_still_resumes(saved, tmp_path):
    old = _edited(saved, tmp_path, layers=None)      # written before checkpoints listed their layers
    h = nbtrain.fit(small_spec(epochs=2, checkpoint_dir=str(tmp_path), run_name="r"), resume=old, progress=False,
                    doctor=False)
    assert [e["epoch"] for e in h.epochs] == [1, 2] and h.status == "finished"
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["layers"] == [
        ["0", "Conv2d"], ["1", "ReLU"], ["2", "Flatten"], ["3", "Dropout"], ["4", "Linear"]]


@pytest.mark.parametrize("edit,says", [(dict(rng=None), "rng"), (dict(optimizer=[1]), "optimizer (a state_dict, found list)"),
                                       (dict(partial={"batches": 3, "acc": {}}), "partial.epoch_rng, partial.last, "
                                                                                  "partial.logged")])
def test_a_checkpoint_missing_an_entry_is_one_clear_error(saved, tmp_path, edit, says):
    path = _edited(saved, tmp_path, **edit)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(small_spec(epochs=2), resume=path, progress=False)
    assert str(e.value) == (f"{path}: the checkpoint has no {says} entry (the file was edited or cut; use another one, "
                            "e.g. best.pt or an earlier epoch_*.pt)")


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x), x


def test_a_forward_that_returns_a_tuple_names_the_fix():
    x, y = torch.randn(16, 4), torch.arange(16) % 3
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=TwoOutputs(), train=(x, y), epochs=1, progress=False)
    assert str(e.value) == ("model.forward: the model's forward returns a tuple, not one tensor of outputs (return "
                            "only the outputs, e.g. `return logits`, not `return logits, features` (keep other values "
                            "on the module, e.g. `self.features = features`))")
    with pytest.raises(NbtrainError) as e:    # a loss of the user's that takes the tuple: the step still needs a tensor
        nbtrain.fit(model=TwoOutputs(), train=(x, y), epochs=1, progress=False,
                    loss=lambda out, y: nn.functional.cross_entropy(out[0], y))
    assert str(e.value).startswith("model.forward: the model's forward returns a tuple, not one tensor of outputs")


def test_a_layer_named_forward_is_one_spec_error():
    d = small_spec().to_dict()
    for i, layer in enumerate(d["model"]["layers"]):
        layer["name"] = ["conv", "forward", "flat", "drop", "fc"][i]
    with pytest.raises(SpecError) as e:
        TrainSpec.from_dict(d)
    assert str(e.value) == ("model.layers[1].name: layer name 'forward' is taken by torch (nn.Sequential.forward) "
                            "(choose another name, e.g. 'forward_layer')")
    d["model"]["layers"][1]["name"] = "forward_layer"
    assert list(nbtrain.build_model(TrainSpec.from_dict(d).model, (1, 8, 8))._modules)[1] == "forward_layer"


def test_a_meta_device_model_is_one_clear_error():
    with torch.device("meta"):
        model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 3)))
    x, y = torch.randn(16, 4), torch.arange(16) % 3
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(model=model, train=(x, y), epochs=1, progress=False)
    assert str(e.value) == ("fit(model=...): the model's tensors are on the meta device (shapes, no values), e.g. "
                            "'fc.weight' (materialize them first: model.to_empty(device='cpu') and then initialize "
                            "them (each layer's reset_parameters()), or load weights with "
                            "model.load_state_dict(state_dict, assign=True))")
