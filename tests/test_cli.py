

from test_loop_spec import small_spec

import nbtrain
from nbtrain.cli import main
from nbtrain.spec import TrainSpec


def test_spec_prints_the_default(capsys):
    assert main(["spec"]) == 0
    assert TrainSpec.from_json(capsys.readouterr().out) == TrainSpec.default()


def test_run_with_overrides_then_resume(tmp_path, capsys):
    path = tmp_path / "spec.json"
    spec = small_spec(epochs=5, run_name="r", checkpoint_dir=str(tmp_path / "ck"))
    spec.save(path)
    assert main(["run", str(path), "--epochs", "1", "--logdir", str(tmp_path / "tb")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trained 1 epoch(s): loss ")
    assert f"TensorBoard logs: {tmp_path / 'tb' / 'r'}   (open: tensorboard --logdir {tmp_path / 'tb'})" in out
    assert f"checkpoints: {tmp_path / 'ck' / 'r'}" in out
    assert (tmp_path / "tb" / "r").is_dir()
    assert main(["run", str(path), "--epochs", "2", "--logdir", "", "--resume", str(tmp_path / "ck" / "r" / "last.pt")]) == 0
    ck = nbtrain.load_checkpoint(tmp_path / "ck" / "r" / "last.pt")
    assert ck["epoch"] == 2 and [e["epoch"] for e in ck["history"]["epochs"]] == [1, 2]


def test_bad_inputs_exit_2_with_the_message(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err == (f"nbtrain: error: {tmp_path / 'nope.json'}: spec file not found "
                                       "(give the path of a JSON spec (`nbtrain spec > spec.json`))\n")
    path = tmp_path / "spec.json"
    small_spec().save(path)
    assert main(["run", str(path), "--epochs", "0"]) == 2
    assert capsys.readouterr().err == "nbtrain: error: loop.epochs: must be >= 1, got 0\n"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["run", str(path), "--resume", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"nbtrain: error: {bad}: not a readable checkpoint (Unsupported operand")


def test_export_prints_the_script(tmp_path, capsys):
    from nbtrain.codegen import to_code
    path = tmp_path / "spec.json"
    small_spec().save(path)
    assert main(["export", str(path)]) == 0
    assert capsys.readouterr().out.strip() == to_code(small_spec()).strip()


def test_demo_trains_and_says_where_everything_is(tmp_path, capsys):
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "trained 1 epoch(s)" in out and "val_accuracy" in out
    assert (tmp_path / "checkpoints" / "demo" / "last.pt").is_file()
    assert any((tmp_path / "runs" / "demo").glob("events.out.tfevents.*"))
    assert "jupyter lab notebooks/" in out and f"nbtrain run {tmp_path / 'demo_spec.json'}" in out
    acc = float(out.split("val_accuracy ")[1].split()[0].rstrip(","))
    assert acc > 0.5                                          # one epoch of the default CNN on digits


def test_a_training_error_is_printed_once(tmp_path, capsys):
    spec = small_spec(epochs=1)
    spec.model.layers[-1].params["out_features"] = 3
    path = tmp_path / "spec.json"
    spec.save(path)
    assert main(["run", str(path)]) == 2
    out, err = capsys.readouterr()
    msg = ("model (last layer): the model outputs 3 values per sample but the data has 10 classes (set the last "
           "layer's out_features to 10)")
    assert err.endswith(f"\nnbtrain: error: {msg}\n")         # after the progress bar's lines (tqdm: stderr)
    assert (out + err).count(msg) == 1                     # the bar no longer repeats it as "stopped: error: ..."


def test_demo_out_under_a_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path / "afile" / "sub")]) == 2
    out, err = capsys.readouterr()
    assert err == (f"nbtrain: error: --out {tmp_path / 'afile' / 'sub'}: {tmp_path / 'afile'} is a file, not a folder "
                   "(give the path of a folder; it is created if missing)\n")
    assert out == ""


def test_a_run_stopped_by_nan_exits_1(tmp_path, capsys):
    spec = small_spec(epochs=2, log_every=1, run_name="n", checkpoint_dir=str(tmp_path / "ck"))
    spec.model.init, spec.model.init_params = "constant", {"val": 1e30}   # logits overflow to inf: the loss is nan
    path = tmp_path / "spec.json"
    spec.save(path)
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("stopped: ")]
    assert len(lines) == 1 and "the loss became" in lines[0], out
    assert "--resume /" not in out and (f"checkpoints: {tmp_path / 'ck' / 'n'}   (the last finite weights; lower "
                                      "the lr before you resume from them)") in out
    assert out.rstrip().endswith("nbtrain: the run failed: the loss stopped being a finite number (see 'stopped:' "
                                 "above)")


def test_an_unexpected_error_is_one_line(tmp_path, capsys, monkeypatch):
    import nbtrain.cli as cli
    monkeypatch.setattr(cli, "_spec", lambda args: 1 / 0)
    monkeypatch.delenv("NBTRAIN_TRACEBACK", raising=False)
    assert main(["spec"]) == 1
    assert capsys.readouterr().err == "nbtrain: error: ZeroDivisionError: division by zero (NBTRAIN_TRACEBACK=1 shows where)\n"
    monkeypatch.setenv("NBTRAIN_TRACEBACK", "1")
    assert main(["spec"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "ZeroDivisionError" in err
