"""resume="auto" (fit) and --resume auto --run-name (the CLI): the run folder's newest complete checkpoint, or a
fresh start; the resumed run ends with the numbers of a run that never stopped."""
import pytest
import torch
from test_loop_spec import small_spec

import nbtrain
from nbtrain.cli import main
from nbtrain.errors import NbtrainError
from nbtrain.train.autoresume import newest_checkpoint
from nbtrain.train.callbacks import Callback


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state, logs):
        if state.step == self.step:
            state.request_stop("test stop")


def _spec(tmp_path, **kw):
    return small_spec(**{"epochs": 3, "run_name": "r", "checkpoint_dir": str(tmp_path / "ck"), "log_every": 5, **kw})


def _weights(path):
    return nbtrain.load_checkpoint(path)["model"]


def test_auto_starts_fresh_then_goes_on_from_the_newest_checkpoint_exactly(tmp_path):
    ref = nbtrain.fit(small_spec(epochs=3, run_name="ref", checkpoint_dir=str(tmp_path / "ref"), log_every=5),
                      progress=False, doctor=False)
    spec = _spec(tmp_path)
    first = nbtrain.fit(spec, resume="auto", callbacks=[StopAt(30)], progress=False, doctor=False)   # epoch 2
    folder = tmp_path / "ck" / "r"
    assert first.status == "stopped" and len(first.epochs) == 1
    assert sorted(p.name for p in folder.glob("*.pt")) == ["best.pt", "epoch_001.pt", "last.pt"]   # best: never taken
    assert newest_checkpoint(folder) == folder / "last.pt"          # mid-epoch 2 beats the end of epoch 1
    h = nbtrain.fit(spec, resume="auto", progress=False, doctor=False)
    assert [e["epoch"] for e in h.epochs] == [1, 2, 3]
    for a, b in zip(h.epochs, ref.epochs):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9)
    mine, theirs = _weights(folder / "last.pt"), _weights(tmp_path / "ref" / "ref" / "last.pt")
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    again = nbtrain.fit(spec, resume="auto", progress=False, doctor=False)   # a finished run: nothing more to train
    assert again.epochs == h.epochs


def test_newest_is_the_most_training_done_and_a_damaged_file_is_passed_over(tmp_path):
    nbtrain.fit(_spec(tmp_path, keep_last=5), progress=False, doctor=False)
    folder = tmp_path / "ck" / "r"
    assert newest_checkpoint(folder) == folder / "last.pt"
    (folder / "last.pt").unlink()
    (folder / "epoch_003.pt").write_bytes((folder / "epoch_003.pt").read_bytes()[:500])    # cut short
    (folder / "epoch_009.pt").write_bytes(b"not a checkpoint")
    assert newest_checkpoint(folder) == folder / "epoch_002.pt"
    assert newest_checkpoint(tmp_path / "nothing-here") is None


def test_auto_without_a_run_name_or_checkpoints_is_one_clear_error(tmp_path):
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(_spec(tmp_path, run_name=""), resume="auto", progress=False)
    assert str(e.value) == ('loop.run_name: resume="auto" needs the run\'s name, to find its folder (give '
                            "run_name='NAME' (on the command line: --run-name NAME); the same name every time the "
                            "run is started)")
    with pytest.raises(NbtrainError, match='checkpoint_dir: resume="auto" needs checkpoints'):
        nbtrain.fit(small_spec(run_name="r"), resume="auto", progress=False)


def test_auto_takes_over_a_run_folder_that_has_no_checkpoint_yet(tmp_path):
    """A worker killed before the first checkpoint left the folders (TensorBoard's events): the restart starts
    the run again in them instead of refusing the name."""
    (tmp_path / "ck" / "r").mkdir(parents=True)
    (tmp_path / "ck" / "r" / "notes.txt").write_text("left by the first attempt")
    h = nbtrain.fit(_spec(tmp_path), resume="auto", progress=False, doctor=False)
    assert len(h.epochs) == 3


def test_cli_run_name_and_resume_auto(tmp_path, capsys):
    path = tmp_path / "spec.json"
    small_spec(epochs=2, checkpoint_dir=str(tmp_path / "ck")).save(path)
    assert main(["run", str(path), "--run-name", "cli", "--epochs", "1", "--resume", "auto"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"no checkpoint in {tmp_path / 'ck' / 'cli'} yet: starting the run\ntrained 1 epoch(s)")
    assert main(["run", str(path), "--run-name", "cli", "--resume", "auto"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"resuming from {tmp_path / 'ck' / 'cli' / 'last.pt'}\ntrained 2 epoch(s)")
    assert nbtrain.load_checkpoint(tmp_path / "ck" / "cli" / "last.pt")["epoch"] == 2
    assert main(["run", str(path), "--resume", "auto"]) == 2
    assert "needs the run's name" in capsys.readouterr().err
    assert main(["run", str(path), "--run-name", "a/b"]) == 2
    assert "run_name must be a plain folder name, got 'a/b'" in capsys.readouterr().err
