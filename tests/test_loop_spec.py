"""fit(TrainSpec): the builders, the Schedule, the data bundle's generator and the spec in logs and checkpoints."""
import pytest
import torch

import nbtrain
from nbtrain.spec import LayerSpec, TrainSpec
from tools.faultsweep_cases.specs import small_spec  # the sweep's tiny spec: one copy


def test_fit_a_spec_learns_digits():
    h = nbtrain.fit(small_spec(), progress=False)
    assert len(h.epochs) == 2 and h.epochs[-1]["val_accuracy"] > 0.8
    assert h.epochs[-1]["val_loss"] < h.epochs[0]["val_loss"]


def test_per_step_schedule_matches_lr_curve():
    spec = small_spec(sched={"type": "OneCycleLR", "max_lr": 0.02}, log_every=1)
    h = nbtrain.fit(spec, progress=False)
    curve = nbtrain.lr_curve(spec.optim, spec.sched, 2, 23)
    # a log at step s reports the LR after s scheduler steps: the LR of step index s
    assert [s["lr"] for s in h.steps[:-1]] == pytest.approx([curve[0][s["step"]] for s in h.steps[:-1]], rel=1e-12)


def test_plateau_from_the_spec_reduces_on_val_loss():
    spec = small_spec(epochs=3, sched={"type": "ReduceLROnPlateau", "patience": 0, "factor": 0.5,
                                       "threshold": 10.0})   # nothing counts as an improvement
    h = nbtrain.fit(spec, progress=False)
    assert h["lr"] == pytest.approx([0.01, 0.005, 0.0025])


def test_resume_a_spec_run_bit_identical(tmp_path):
    spec = small_spec(epochs=4, checkpoint_dir=str(tmp_path), logdir=str(tmp_path / "tb"), log_every=5)
    spec.loop.run_name = "straight"
    h4 = nbtrain.fit(spec, progress=False)
    spec.loop.run_name = "first"
    nbtrain.fit(spec, epochs=2, progress=False)
    spec.loop.run_name = "second"
    h22 = nbtrain.fit(spec, resume=tmp_path / "first" / "last.pt", progress=False)
    a = nbtrain.load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = nbtrain.load_checkpoint(tmp_path / "second" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert h22.to_dict() == h4.to_dict()
    ck = nbtrain.load_checkpoint(tmp_path / "first" / "last.pt")
    assert TrainSpec.from_json(ck["spec"]).model == spec.model


def test_spec_text_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    spec = small_spec(epochs=1, logdir=str(tmp_path), run_name="r")
    nbtrain.fit(spec, progress=False)
    acc = EventAccumulator(str(tmp_path / "r"), size_guidance={"tensors": 0})
    acc.Reload()
    text = acc.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert TrainSpec.from_json(text.split("```json\n")[1].split("\n```")[0]) == spec


def test_swa_averages_and_recomputes_batchnorm(tmp_path):
    spec = small_spec(epochs=3, sched={"type": "", "swa": True, "swa_start": 1, "swa_lr": 0.005},
                      checkpoint_dir=str(tmp_path), run_name="r")
    spec.model.layers.insert(1, LayerSpec("BatchNorm2d"))
    spec = TrainSpec.from_dict(spec.to_dict())
    h = nbtrain.fit(spec, progress=False)
    assert h.final["swa_epochs"] == 2 and 0 < h.final["swa_val_accuracy"] <= 1
    curve = nbtrain.lr_curve(spec.optim, spec.sched, 3, 23)[0]
    assert h["lr"] == pytest.approx([curve[22], curve[45], curve[68]])   # SWALR, stepped by the same Schedule
    assert h["lr"][2] < h["lr"][0]
    ck = nbtrain.load_checkpoint(tmp_path / "r" / "last.pt")
    assert int(ck["swa_model"]["n_averaged"]) == 2


def test_stopped_mid_epoch_then_resumed_is_bit_identical(tmp_path):
    """The Stop button mid-epoch: last.pt records the batches done; resuming skips them and goes on exactly."""
    from nbtrain.train.callbacks import Callback

    class StopAt(Callback):
        def on_batch_end(self, state, logs):
            if state.step == 30:
                state.request_stop("stop button")

    spec = small_spec(epochs=3, checkpoint_dir=str(tmp_path), log_every=10)
    spec.loop.run_name = "straight"
    h3 = nbtrain.fit(spec, progress=False)
    spec.loop.run_name = "stopped"
    h = nbtrain.fit(spec, callbacks=[StopAt()], progress=False)
    assert h.stop_reason == "stop button" and len(h.epochs) == 1
    ck = nbtrain.load_checkpoint(tmp_path / "stopped" / "last.pt")
    assert ck["epoch"] == 1 and ck["step"] == 30 and ck["partial"]["batches"] == 7
    spec.loop.run_name = "resumed"
    h2 = nbtrain.fit(spec, resume=tmp_path / "stopped" / "last.pt", progress=False)
    a = nbtrain.load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = nbtrain.load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert h2.epochs == h3.epochs


def test_fit_takes_a_spec_path_and_parts_as_a_pair(tmp_path):
    path = tmp_path / "spec.json"
    small_spec(epochs=1).save(path)
    assert len(nbtrain.fit(str(path), progress=False).epochs) == 1
    from loop_fixtures import tiny_cnn, tiny_data
    h = nbtrain.fit(model=tiny_cnn(), data=tiny_data(), epochs=1, progress=False)
    assert "val_loss" in h.epochs[0]
    with pytest.raises(nbtrain.NbtrainError) as e:
        nbtrain.fit(42)
    assert str(e.value) == ("fit(spec): expected a TrainSpec or the path of a JSON spec, got int "
                            "(use nbtrain.TrainSpec.default() or pass model= and train=)")
