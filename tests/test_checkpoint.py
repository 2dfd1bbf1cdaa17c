import json
import zipfile

import pytest
import torch
from loop_fixtures import tiny_cnn, tiny_data
from torch import nn

import nbtrain
from nbtrain.errors import CheckpointError
from nbtrain.sinks.checkpoint import Checkpoint, finite_weights, save_atomic
from nbtrain.train.callbacks import State


def _run(tmp_path, epochs, resume=None, name="r", **kw):
    tr, va = tiny_data()
    model = tiny_cnn(seed=5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.7)
    h = nbtrain.fit(model=model, train=tr, val=va, optimizer=opt, scheduler=sched, epochs=epochs, resume=resume,
                    checkpoint_dir=str(tmp_path), run_name=name, log_every=2, progress=False, **kw)
    return model, h


def test_resume_2_plus_2_is_bit_identical_to_4(tmp_path):
    """Dropout, shuffling, Adam's moments, the LR schedule and the History all continue exactly."""
    m4, h4 = _run(tmp_path, 4, name="straight")
    _run(tmp_path, 2, name="first")
    m22, h22 = _run(tmp_path, 4, resume=tmp_path / "first" / "epoch_002.pt", name="second")
    for (k, a), b in zip(m4.state_dict().items(), m22.state_dict().values()):
        assert torch.equal(a, b), k
    assert h22.to_dict() == h4.to_dict()


def test_checkpoint_holds_everything_and_loads_with_weights_only(tmp_path):
    model, h = _run(tmp_path, 2, amp="bf16")
    ck = nbtrain.load_checkpoint(tmp_path / "r" / "last.pt")
    assert {"model", "optimizer", "scheduler", "scaler", "epoch", "step", "history", "rng", "spec",
            "callbacks"} <= set(ck)
    assert ck["epoch"] == 2 and ck["step"] == 10 and not ck["partial"]
    assert ck["history"]["epochs"] == h.epochs
    assert ck["scheduler"]["epoch"] == 2 and ck["scheduler"]["scheduler"]["last_epoch"] == 2
    assert {"python", "numpy", "torch", "cuda", "generator"} <= set(ck["rng"])
    assert isinstance(ck["rng"]["generator"], torch.Tensor)
    assert all(torch.equal(ck["model"][k], v) for k, v in model.state_dict().items())


def test_keeps_the_last_k_and_the_best(tmp_path):
    _run(tmp_path, 4, keep_last=2)
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["best.pt", "epoch_003.pt", "epoch_004.pt", "last.pt"]
    best = nbtrain.load_checkpoint(tmp_path / "r" / "best.pt")
    hist = best["history"]["epochs"]
    assert hist[-1]["val_loss"] == min(e["val_loss"] for e in hist)


def test_write_is_atomic(tmp_path):
    target = tmp_path / "last.pt"
    save_atomic({"a": 1}, target)

    def crash(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError):
        save_atomic({"a": 2}, target, saver=crash)
    assert torch.load(target, weights_only=True) == {"a": 1}     # the old file is whole
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]     # no temp file left


def test_sink_with_an_injected_saver(tmp_path):
    saved = []
    ck = Checkpoint(tmp_path, keep_last=1, saver=lambda obj, path: saved.append((path.name, obj["epoch"])) or
                    path.write_bytes(b""))
    model = tiny_cnn()
    st = State(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), history=nbtrain.History())
    for e, v in enumerate([1.0, 2.0]):
        st.epoch, st.epochs_done = e, e + 1
        st.history.on_epoch_end(st, {"epoch": e + 1, "val_loss": v})        # the record first, as in fit()
        ck.on_epoch_end(st, {"epoch": e + 1, "val_loss": v})
    assert [(n.split(".tmp")[0], e) for n, e in saved] == [(".epoch_001.pt", 1), (".epoch_002.pt", 2)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "epoch_002.pt"]


def test_not_a_checkpoint_and_a_corrupt_one(tmp_path):
    other = tmp_path / "weights.pt"
    torch.save(tiny_cnn().state_dict(), other)
    with pytest.raises(CheckpointError) as e:
        nbtrain.load_checkpoint(other)
    assert str(e.value) == (f"{other}: not an nbtrain checkpoint (no 'format' entry) (give a file written by nbtrain's "
                            "checkpoints; for a bare state_dict use model.load_state_dict(torch.load(path, "
                            "weights_only=True)))")
    _run(tmp_path, 1)
    good = (tmp_path / "r" / "last.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError) as e:
        nbtrain.load_checkpoint(bad)
    assert str(e.value).startswith(f"{bad}: not a readable checkpoint (")
    assert str(e.value).endswith("(the file is corrupt or not a torch checkpoint; use another one, e.g. best.pt or an "
                                 "earlier epoch_*.pt)")
    with pytest.raises(CheckpointError) as e:
        nbtrain.load_checkpoint(tmp_path / "missing.pt")
    assert str(e.value) == f"{tmp_path / 'missing.pt'}: no such file (give the path of a .pt file written by nbtrain)"


def test_resume_from_another_model_lists_the_keys(tmp_path):
    _run(tmp_path, 1)
    tr, va = tiny_data()
    other = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3), nn.Linear(3, 3))
    path = tmp_path / "r" / "last.pt"
    with pytest.raises(CheckpointError) as e:
        nbtrain.fit(model=other, train=tr, val=va, resume=path, progress=False)
    assert str(e.value) == (
        f"{path}: the checkpoint belongs to another model; missing keys: 3.weight, 3.bias, 4.weight, 4.bias; "
        "unexpected keys: 1.weight, 1.bias, 1.running_mean, 1.running_var, 1.num_batches_tracked, 5.weight, 5.bias "
        "(resume with the spec the checkpoint was saved with (it is stored in checkpoint['spec']))")
    with pytest.raises(CheckpointError) as e:
        nbtrain.fit(model=tiny_cnn(classes=5), train=tr, val=va, resume=path, progress=False)
    assert str(e.value) == (
        f"{path}: the checkpoint belongs to another model; different shapes (checkpoint vs model): "
        "5.weight (3, 144) vs (5, 144), 5.bias (3,) vs (5,) (resume with the spec the checkpoint was saved with "
        "(it is stored in checkpoint['spec']))")


def _as_if_saved_on_gpu(src, dst):
    """Rewrite the storage locations in a torch.save zip from 'cpu' to 'cuda:0' (what a GPU run writes)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")   # BINUNICODE
            zout.writestr(item, data)


def test_gpu_saved_checkpoint_loads_on_cpu(tmp_path):
    _run(tmp_path, 1)
    gpu = tmp_path / "gpu.pt"
    _as_if_saved_on_gpu(tmp_path / "r" / "last.pt", gpu)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(gpu, weights_only=True)                     # seed 001's failure without map_location
    ck = nbtrain.load_checkpoint(gpu, map_location="cpu")
    assert ck["model"]["0.weight"].device.type == "cpu"
    m = tiny_cnn()
    m.load_state_dict(ck["model"])


def test_a_whole_pickled_model_is_named_as_such(tmp_path):
    """Seed 001's second way to save (the whole model) is not a checkpoint: say so, without torch's advice."""
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError) as e:
        nbtrain.load_checkpoint(path)
    assert str(e.value) == (f"{path}: holds pickled Python objects, not an nbtrain checkpoint (a whole saved model?) "
                            "(nbtrain reads checkpoints with torch.load(weights_only=True); load a whole model with "
                            "torch.load(path, weights_only=False) only if you trust the file)")


def test_history_is_stored_as_json_text_and_read_back_as_the_dict(tmp_path):
    """torch.save pickles a dict object by object (and the rows were deep-copied first); one string costs 10-20x less
    and does not grow per object with the run. load_checkpoint gives the same dict as History.to_dict()."""
    _, h = _run(tmp_path, 2)
    raw = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert isinstance(raw["history"], str) and json.loads(raw["history"]) == h.to_dict()
    assert isinstance(raw["rng"]["python"][1], torch.Tensor) and raw["rng"]["python"][1].shape == (625,)
    assert nbtrain.load_checkpoint(tmp_path / "r" / "last.pt")["history"] == h.to_dict()


def test_a_checkpoint_of_the_earlier_layout_still_resumes_exactly(tmp_path):
    """Checkpoints written before the JSON history and the tensor Python RNG state (history a dict, the RNG keys a
    list) resume the same as the ones written now."""
    m4, h4 = _run(tmp_path, 4, name="straight")
    _run(tmp_path, 2, name="first")
    path = tmp_path / "first" / "epoch_002.pt"
    ck = torch.load(path, weights_only=True)
    ck["history"] = json.loads(ck["history"])
    v, keys, gauss = ck["rng"]["python"]
    ck["rng"]["python"] = [v, keys.tolist(), gauss]
    torch.save(ck, path)
    m22, h22 = _run(tmp_path, 4, resume=path, name="second")
    assert all(torch.equal(a, b) for a, b in zip(m4.state_dict().values(), m22.state_dict().values()))
    assert h22.to_dict() == h4.to_dict()


def test_a_history_json_cannot_hold_is_stored_as_the_dict():
    h = nbtrain.History(epochs=[{"epoch": 1, "loss": 0.5, "note": torch.tensor([1.0, 2.0])}])
    sd = h.state_dict()
    assert isinstance(sd, dict) and torch.equal(sd["epochs"][0]["note"], torch.tensor([1.0, 2.0]))
    sd["epochs"][0]["loss"] = 9.0                        # a copy: the History is untouched
    assert h.epochs[0]["loss"] == 0.5


def test_best_is_a_hard_link_to_its_epoch_file_or_a_copy_without_hard_links(tmp_path, monkeypatch):
    _run(tmp_path, 2, keep_last=5, name="linked")
    d = tmp_path / "linked"
    best = nbtrain.load_checkpoint(d / "best.pt")["epoch"]
    assert (d / "best.pt").samefile(d / f"epoch_{best:03d}.pt")        # no bytes copied

    def no_links(*_):
        raise OSError(1, "Operation not permitted")                    # e.g. a FAT or network drive
    monkeypatch.setattr("nbtrain.sinks.checkpoint.os.link", no_links)
    _run(tmp_path, 2, keep_last=5, name="copied")
    d = tmp_path / "copied"
    best = nbtrain.load_checkpoint(d / "best.pt")["epoch"]
    assert not (d / "best.pt").samefile(d / f"epoch_{best:03d}.pt")
    assert (d / "best.pt").read_bytes() == (d / f"epoch_{best:03d}.pt").read_bytes()
    assert sorted(p.name for p in d.iterdir()) == ["best.pt", "epoch_001.pt", "epoch_002.pt", "last.pt"]


def test_finite_weights_reads_one_norm_per_tensor_and_checks_elements_only_when_a_norm_is_not_finite():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert finite_weights(model)
    with torch.no_grad():
        model[0].weight[0, :2] = 3e38                     # finite, but the norm overflows: the exact check says so
    assert finite_weights(model)
    for bad in (float("inf"), float("nan")):
        with torch.no_grad():
            model[0].bias[1] = bad
        assert not finite_weights(model)
    with torch.no_grad():
        model[0].bias[1] = 0.0
        model[1].running_var[2] = float("nan")            # a buffer counts too
    assert not finite_weights(model)
