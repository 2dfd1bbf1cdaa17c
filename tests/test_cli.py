

import nbtrain
from nbtrain.cli import main
from nbtrain.spec import TrainSpec
from test_loop_spec import small_spec


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
