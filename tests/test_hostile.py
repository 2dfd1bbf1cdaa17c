"""Hostile and careless inputs (issue 13): each is one NbtrainError naming the field (or the line and column) and
saying how to fix it; never a raw traceback, never silently accepted. CSV cases: test_data_files.py; CLI exits:
test_cli.py; a sweep of every catalog parameter: test_catalog_sweep.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nbtrain import NbtrainError
from nbtrain.spec import DataSpec, LoopSpec, OptimSpec, TrainSpec
from nbtrain.train.resume import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _error(mutate=None, text=None) -> str:
    """The message of the one NbtrainError that reading the default spec, mutated or as ``text``, raises."""
    d = TrainSpec.default().to_dict()
    if mutate:
        mutate(d)
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_json(json.dumps(d) if text is None else text)
    return str(e.value)


def _default_json_with(old: str, new: str) -> str:
    text = TrainSpec.default().to_json(indent=None)
    assert old in text
    return text.replace(old, new, 1)


# -- catalog parameters: length, finiteness, range, type ---------------------------------------------------------
def test_adam_betas_of_one_value_is_refused_with_the_field_path():
    assert _error(lambda d: d["optim"].update(betas=[0.9])) == (
        "optim.betas: expected a list of 2 numbers, got 1: [0.9] ([beta1, beta2]: decay rates of the running averages)")


def test_rprop_etas_of_one_value_is_refused_with_the_field_path():
    assert _error(lambda d: d["optim"].update(type="Rprop", etas=[0.5])) == (
        "optim.etas: expected a list of 2 numbers, got 1: [0.5] ([etaminus, etaplus]: multiplicative decrease and "
        "increase)")


@pytest.mark.parametrize("layer, kernel, n", [(0, [3, 3, 3], 2), (0, [], 2)])
def test_a_kernel_size_list_of_the_wrong_length_is_refused(layer, kernel, n):
    assert _error(lambda d: d["model"]["layers"][layer].update(kernel_size=kernel)) == (
        f"model.layers[{layer}].kernel_size: expected a list of {n} ints, got {len(kernel)}: {kernel} (size of the "
        "sliding window (int or [h, w]))")


def test_conv1d_takes_a_one_value_kernel_list():
    spec = {"type": "Conv1d", "out_channels": 2, "kernel_size": [3, 3]}
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict({"model": {"layers": [spec]}})
    assert str(e.value) == ("model.layers[0].kernel_size: expected a list of 1 ints, got 2: [3, 3] (size of the "
                            "sliding window (int or [h, w]))")


def test_a_list_element_out_of_range_names_its_index():
    assert _error(lambda d: d["data"]["train_transforms"][1].update(std=[0.0])) == (
        "data.train_transforms[1].std[0]: must be > 0, got 0 (set std to a value > 0)")


def test_lr_1e308_is_refused_as_beyond_float32():
    assert _error(lambda d: d["optim"].update(lr=1e308)) == (
        "optim.lr: must be at most 3.4e+38 in size (float32's largest; torch computes in float32), got 1e+308")


def test_lr_above_1000_is_refused_as_a_typo():
    assert _error(lambda d: d["optim"].update(lr=1e6)) == (
        "optim.lr: must be <= 1000, got 1e+06 (every optimizer diverges at such a learning rate; typical values are "
        "1e-4 to 1)")
    assert _error(lambda d: d["optim"].update(groups=[{"pattern": "9", "lr": 5000}])) == (
        "optim.groups[0].lr: must be <= 1000, got 5000 (every optimizer diverges at such a learning rate; typical "
        "values are 1e-4 to 1)")


def test_lr_1e999_reads_as_inf_and_is_refused():
    text = _default_json_with('"lr": 0.001', '"lr": 1e999')
    assert _error(text=text) == "optim.lr: expected a finite number, got inf (give a finite number; JSON's 1e999 " \
                                "reads as inf)"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused_with_line_and_column(literal):
    text = _default_json_with('"min_delta": 0.0', f'"min_delta": {literal}')
    col = text.index(literal) + 1
    assert _error(text=text) == (f"TrainSpec: {literal} at line 1 column {col} is not a JSON number (write a finite "
                                 "number, e.g. 0.001)")


@pytest.mark.parametrize("value, what", [(float("nan"), "expected a number, got nan (give a finite number)"),
                                         (float("inf"), "expected a finite number, got inf (give a finite number; "
                                                        "JSON's 1e999 reads as inf)")])
def test_nan_and_inf_made_in_python_are_refused(value, what):
    """Specs made in Python (what a widget or a notebook builds) go through the same checks."""
    with pytest.raises(NbtrainError) as e:
        LoopSpec.from_dict({"min_delta": value}, "loop")
    assert str(e.value) == f"loop.min_delta: {what}"
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict({"optim": {"type": "SGD", "lr": 0.1, "momentum": value}})
    assert str(e.value) == f"optim.momentum: {what}"


def test_a_negative_min_delta_is_refused():
    assert _error(lambda d: d["loop"].update(min_delta=-0.1)) == "loop.min_delta: must be >= 0, got -0.1"


def test_a_5000_digit_integer_is_refused_before_python_parses_it():
    text = _default_json_with('"epochs": 3', '"epochs": ' + "9" * 5000)
    col = text.index("9" * 5000) + 1
    assert _error(text=text) == (f"TrainSpec: a number with 5000 digits at line 1 column {col} (numbers in a spec "
                                 "have at most 30 digits)")


def test_integers_beyond_int64_are_refused_with_the_field_path():
    assert _error(text=_default_json_with('"epochs": 3', '"epochs": ' + "9" * 25)) == (
        f"loop.epochs: must fit in int64, got {'9' * 25} (give a value between -9223372036854775807 and "
        "9223372036854775807)")
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict({"model": {"layers": [{"type": "Linear", "out_features": 10**5000}]}})
    assert str(e.value) == ("model.layers[0].out_features: must fit in int64, got an integer of about 5001 digits "
                            "(give a value between -9223372036854775807 and 9223372036854775807)")


def test_deep_nesting_is_a_clear_error_not_recursion():
    head = '{"model": {"init_params": {"a": '                 # 3 levels, then 100,000 more
    text = head + "[" * 100_000 + "]" * 100_000 + "}}}"
    col = len(head) + 30                                         # the 33rd level's column (1-based)
    assert _error(text=text) == (f"TrainSpec: nested more than 32 levels deep at line 1 column {col} (check the file "
                                 "is a spec saved by nbtrain (TrainSpec.to_json or `nbtrain spec`))")


def test_brackets_and_digits_inside_strings_do_not_count():
    spec = TrainSpec.default()
    spec.loop.run_name = "[[[[" * 20 + "9" * 40
    assert TrainSpec.from_json(spec.to_json()) == spec


def test_image_size_has_an_upper_bound_with_its_reason():
    assert _error(lambda d: d["data"].update(image_size=100000)) == (
        "data.image_size: must be <= 256, got 100000 (the 8x8 digits hold no more detail, and 1797 images of 256x256 "
        "already take 470 MB)")


@pytest.mark.parametrize("path, value, want", [
    (("loop", "grad_clip"), True, "loop.grad_clip: expected float, got bool"),
    (("optim", "lr"), True, "optim.lr: expected float, got bool"),
    (("data", "batch_size"), False, "data.batch_size: expected int, got bool"),
])
def test_booleans_are_not_numbers(path, value, want):
    assert _error(lambda d: d[path[0]].update({path[1]: value})) == want


def test_booleans_are_not_numbers_in_catalog_params():
    assert _error(lambda d: d["model"]["layers"][9].update(out_features=True)) == \
        "model.layers[9].out_features: expected int, got bool"
    assert _error(lambda d: d["optim"].update(betas=[True, 0.999])) == "optim.betas[0]: expected number, got bool"
    with pytest.raises(NbtrainError) as e:
        DataSpec.from_dict({"train_transforms": [{"type": "Grayscale", "num_output_channels": True}]}, "data")
    assert str(e.value) == "data.train_transforms[0].num_output_channels: unknown value 'True' (choose one of: 1, 3)"


def test_the_optimizer_picker_shows_the_same_error_for_betas():
    pytest.importorskip("ipywidgets")
    from nbtrain.widgets import OptimizerPicker
    p = OptimizerPicker(OptimSpec("Adam", lr=1e-3))
    p.params.fields["betas"].input.value = "[0.9]"
    assert p.error == ("betas: expected a list of 2 numbers, got 1: [0.9] ([beta1, beta2]: decay rates of the running "
                       "averages)")
    assert p.spec == OptimSpec("Adam", lr=1e-3)


# -- files -------------------------------------------------------------------------------------------------------
def test_a_non_utf8_spec_file_is_a_clear_error(tmp_path):
    p = tmp_path / "s.json"
    p.write_bytes(TrainSpec.default().to_json().encode("utf-8").replace(b'"runs"', b'"r\xe9ns"'))
    with pytest.raises(NbtrainError) as e:
        TrainSpec.load(p)
    at = p.read_bytes().index(b"\xe9")
    assert str(e.value) == (f"{p}: not UTF-8 text: byte 0xe9 at offset {at} (save the file as UTF-8 (nbtrain writes "
                            "specs in UTF-8))")


def test_a_utf8_spec_with_a_bom_and_non_ascii_text_loads(tmp_path):
    spec = TrainSpec.default()
    spec.loop.run_name = "实验-é"
    p = tmp_path / "s.json"
    p.write_bytes(b"\xef\xbb\xbf" + spec.to_json().encode("utf-8"))
    assert TrainSpec.load(p) == spec
    spec.save(tmp_path / "t.json")
    assert TrainSpec.load(tmp_path / "t.json").loop.run_name == "实验-é"


# -- checkpoints: pickles never run, and the message says why (load_checkpoint: nbtrain/train/resume.py) ----------------
class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_never_runs_and_the_message_says_why(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"x": _Evil(marker)}, path)
    with pytest.raises(NbtrainError) as e:
        load_checkpoint(path)
    assert not marker.exists()
    msg = str(e.value)
    assert "posix.system" in msg and "only if you trust the file" in msg, msg


def test_a_whole_saved_model_gets_the_trust_advice(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(NbtrainError) as e:
        load_checkpoint(path)
    assert str(e.value) == (f"{path}: holds pickled Python objects, not an nbtrain checkpoint (a whole saved model?) "
                            "(nbtrain reads checkpoints with torch.load(weights_only=True); load a whole model with "
                            "torch.load(path, weights_only=False) only if you trust the file)")


# -- the CLI, each case in a fresh process: one line on stderr, exit 2, no traceback ------------------------------
def _cli(tmp_path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("NBTRAIN_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "nbtrain", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_hostile_spec_files_through_the_cli_are_one_line_each(tmp_path):
    """Three fresh processes (each imports torch); the other cases are the same code path, tested in-process above."""
    default = TrainSpec.default().to_json(indent=None)
    files = {
        "deep.json": '{"data": ' + "[" * 50_000 + "]" * 50_000 + ', "x": ' + "7" * 5000 + "}",
        "latin1.json": default.replace('"runs"', '"r\xe9ns"').encode("latin-1"),
    }
    for name, text in files.items():
        p = tmp_path / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    torch.save({"x": _Evil(tmp_path / "pwned")}, tmp_path / "evil.pt")
    ok = TrainSpec.default()
    ok.loop.logdir = ok.loop.checkpoint_dir = ""
    ok.save(tmp_path / "ok.json")
    runs = [_cli(tmp_path, "run", "deep.json"), _cli(tmp_path, "export", "latin1.json"),
            _cli(tmp_path, "run", "ok.json", "--resume", "evil.pt")]
    at = files["latin1.json"].index(b"\xe9")
    want = ["nbtrain: error: TrainSpec: nested more than 32 levels deep at line 1 column 41 (",
            f"nbtrain: error: latin1.json: not UTF-8 text: byte 0xe9 at offset {at} (",
            "nbtrain: error: evil.pt: "]
    for r, start in zip(runs, want):
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(start) and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "pwned").exists()


# -- found by the sweep (test_catalog_sweep.py) -------------------------------------------------------------------
def test_floats_that_are_zero_in_float32_are_refused():
    assert _error(lambda d: d["optim"].update(eps=1e-50)) == (
        "optim.eps: must be 0 or at least 1.18e-38 in size (smaller numbers are 0 in float32), got 1e-50")
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict({"sched": {"type": "LinearLR", "start_factor": 5e-324}})
    assert str(e.value) == ("sched.start_factor: must be 0 or at least 1.18e-38 in size (smaller numbers are 0 in "
                            "float32), got 4.94066e-324")


def test_constant_lr_factor_zero_is_refused():
    """torch's ConstantLR divides by factor when its total_iters end (ZeroDivisionError)."""
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict({"sched": {"type": "ConstantLR", "factor": 0.0}})
    assert str(e.value) == "sched.factor: must be > 0, got 0 (set factor to a value > 0)"


@pytest.mark.parametrize("layer, where", [({"type": "Flatten", "start_dim": 0}, "model.layers[0] (Flatten)"),
                                          ({"type": "Softmax", "dim": 7}, "model.layers[0] (Softmax)")])
def test_a_layer_that_breaks_the_batch_or_a_dim_is_named(layer, where):
    from nbtrain.build.model import build_model
    spec = TrainSpec.from_dict({"model": {"layers": [layer, {"type": "Flatten"}, {"type": "Linear",
                                                                                   "out_features": 3}]}})
    with pytest.raises(NbtrainError) as e:
        build_model(spec.model, (3, 4, 4))
    assert str(e.value).startswith(where + ": ")
    if layer["type"] == "Flatten":
        assert str(e.value) == ("model.layers[0] (Flatten): mixes the batch dimension into the sample: output (96,) "
                                "for a batch (2, 3, 4, 4) (keep dimension 0 for the batch, e.g. start_dim=1)")


def test_synthetic_image_sides_are_bounded():
    with pytest.raises(NbtrainError) as e:
        DataSpec.from_dict({"dataset": "synthetic", "image_shape": [3, 100000, 100000]}, "data")
    assert str(e.value) == ("data.image_shape: expected [channels (1-4), height, width (each 1-1024)], got "
                            "[3, 100000, 100000] (e.g. [3, 32, 32])")
