"""A checkpoint resumed by a spec of another batch size, or without its run history, is one clear error (issue 24,
fault-sweep findings 3 and 4)."""
import pytest
import torch
from test_loop_spec import small_spec

import nbtrain
from nbtrain.errors import NbtrainError

CUT = "the file was edited or cut; use another one, e.g. best.pt or an earlier epoch_*.pt)"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One epoch of a two-epoch run at batch size 64, its last.pt."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("ck")
    nbtrain.fit(small_spec(epochs=2, checkpoint_dir=str(d), run_name="r"), epochs=1, progress=False, doctor=False)
    return d / "r" / "last.pt"


def _edited(saved, tmp_path, edit):
    ck = torch.load(saved, weights_only=True)
    edit(ck)
    torch.save(ck, tmp_path / "edited.pt")
    return tmp_path / "edited.pt"


def test_a_checkpoint_of_batch_64_does_not_resume_at_batch_32(saved):
    spec = small_spec(epochs=2)
    spec.data.batch_size = 32
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, resume=saved, progress=False, doctor=False)
    step = torch.load(saved, weights_only=True)["step"]
    assert str(e.value) == (
        f"{saved}: the checkpoint was trained with data.batch_size 64, this run's is 32 (its step {step} and position "
        "in the epoch count batches of 64) (resume with data.batch_size 64; to train on with batch size 32, start a "
        "new run from the checkpoint's weights (model.load_state_dict(nbtrain.load_checkpoint(path)['model'])))")


def _no_history(ck):
    del ck["history"]


def _no_epochs(ck):
    ck["history"] = ck["history"].replace('"epochs":', '"old_epochs":') if isinstance(ck["history"], str) else \
        {**ck["history"], "epochs": []}


@pytest.mark.parametrize("edit,says", [
    (_no_history, "the checkpoint has no history entry"),
    (_no_epochs, "the checkpoint's history logs 0 epoch(s) of the 1 it has done: the earlier epochs' logs are missing")])
def test_a_checkpoint_without_its_history_is_one_clear_error(saved, tmp_path, edit, says):
    path = _edited(saved, tmp_path, edit)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(small_spec(epochs=2), resume=path, progress=False, doctor=False)
    assert str(e.value) == f"{path}: {says} ({CUT}"
