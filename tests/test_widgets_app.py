"""The Workbench driven in-process: tabs kept in step, Train enabled only for a valid spec, Train runs
fit(), Save / Load, the LR finder button, the code export."""
import pytest

from nbtrain.spec import SchedSpec, TrainSpec
from nbtrain.widgets import Workbench
from nbtrain.widgets.presets import mlp


def _small() -> TrainSpec:
    spec = TrainSpec.default()
    spec.model = mlp(10)
    spec.loop.epochs, spec.loop.logdir, spec.loop.checkpoint_dir = 1, "", ""
    spec.data.batch_size = 128
    return spec


def test_workbench_round_trips_and_saves_and_loads(tmp_path):
    spec = _small()
    spec.sched = SchedSpec("StepLR", params={"step_size": 1}, warmup=0)
    wb = Workbench(spec, preview=False)
    assert wb.spec == spec and wb.error == "" and not wb.train_button.disabled
    assert [wb.tabs.get_title(i) for i in range(5)] == ["Data", "Model", "Optimizer", "Schedule", "Train"]
    wb.path.value = str(tmp_path / "a.json")
    wb.save_button.click()
    assert TrainSpec.load(tmp_path / "a.json") == spec
    other = TrainSpec.default()
    other.loop.epochs = 2
    other.save(tmp_path / "b.json")
    wb.path.value = str(tmp_path / "b.json")
    wb.load_button.click()
    assert wb.spec == other and "loaded" in wb.file_message.value
    assert wb.sched.epochs.value == 2                                   # the preview follows the loop's epochs
    (tmp_path / "bad.json").write_text("{not json")
    wb.path.value = str(tmp_path / "bad.json")
    wb.load_button.click()
    assert wb.spec == other and "not valid JSON" in wb.file_message.value


def test_train_is_disabled_while_the_spec_is_invalid_and_says_why():
    wb = Workbench(_small(), preview=False)
    wb.model.rows.rows[1].params.fields["in_features"].input.value = "100"
    why = ("Model: model.layers[1] (Linear): expects 100 input features, got 784 "
           "(set in_features to 784 or 'auto')")
    assert wb.error == why and wb.train_button.disabled
    assert wb.train_button.tooltip == f"fix first: {why}"
    assert "cannot train: fix Model first" in wb.status.value and "expects" not in wb.status.value  # said once
    assert wb.spec.model == mlp(10)                                     # the last valid spec is kept
    wb.model.rows.rows[1].params.fields["in_features"].input.value = "auto"
    assert wb.error == "" and not wb.train_button.disabled
    wb.loop.inputs["epochs"].value = 0
    assert wb.error == "Train: loop.epochs: must be >= 1, got 0" and wb.train_button.disabled
    wb.loop.inputs["epochs"].value = 1
    assert not wb.train_button.disabled


def test_tabs_stay_in_step():
    wb = Workbench(_small(), preview=False)
    assert wb.model.input_shape == (1, 28, 28) and wb.sched.steps_per_epoch.value == 12   # 1437 / 128
    wb.data.fields.inputs["image_size"].value = 8
    assert wb.model.input_shape == (1, 8, 8) and wb.spec.data.image_size == 8
    assert "\u2192 64 " in wb.model.rows.rows[0].info.value
    wb.data.fields.inputs["batch_size"].value = 64
    assert wb.sched.steps_per_epoch.value == 23
    wb.optim.lr.value = 0.05
    assert wb.sched.optim_spec.lr == 0.05 and wb.spec.optim.lr == 0.05


def test_train_button_runs_fit_and_reports():
    wb = Workbench(_small(), preview=False, background=False)
    wb.train_button.click()
    assert wb.history is not None and len(wb.history.epochs) == 1
    assert wb.status.value.startswith("done: ") and "val_loss" in wb.status.value
    assert not wb.train_button.disabled


def test_train_errors_show_in_the_ui():
    def broken_fit(spec):
        raise RuntimeError("boom")
    wb = Workbench(_small(), fit=broken_fit, preview=False, background=False)
    wb.train_button.click()
    assert "training failed: RuntimeError: boom" in wb.status.value
    assert isinstance(wb.last_error, RuntimeError)
    assert "RuntimeError: boom" in wb.output.outputs[-1]["text"]


def test_the_lr_finder_beside_lr_and_beside_max_lr():
    wb = Workbench(_small(), preview=False)
    before = wb.spec
    lr_row = next(c for c in wb.optim.children if wb.optim.lr in getattr(c, "children", ()))
    assert wb.optim.lr_line in lr_row.children                           # Optimizer tab: beside lr
    wb.optim.lr_line.find_button.click()
    s = wb.finder.suggestion
    assert s is not None and 1e-7 < s < 10 and wb.finder.image.png.startswith(b"\x89PNG")
    assert wb.optim.lr_line.use_button.description == f"use {s:.3g}"
    assert wb.spec.model == before.model                                 # the weights are the spec's
    wb.optim.lr_line.use_button.click()
    assert wb.spec.optim.lr == pytest.approx(float(f"{s:.3g}"))
    assert wb.spec.sched == before.sched                                 # the constant schedule has no line
    wb.sched.type.value = "OneCycleLR"                                   # Schedule tab: beside max_lr
    line = wb.sched.max_lr_line
    assert line in wb.sched.params.fields["max_lr"].children and not line.use_button.disabled
    line.use_button.click()
    assert wb.spec.sched.params["max_lr"] == pytest.approx(float(f"{s:.3g}"))


def test_fit_from_a_chinese_workbench_shows_the_dashboard_status_in_chinese(monkeypatch):
    from nbtrain import fit as real_fit
    from nbtrain.sinks.dashboard import text
    from nbtrain.widgets import app
    got = {}

    def fit(spec, **kw):
        got.update(kw)
        return real_fit(spec, **kw)
    monkeypatch.setattr(app, "wants_widgets", lambda: True)           # as in a notebook: the Workbench makes it
    wb = Workbench(_small(), fit=fit, preview=False, background=False, lang="zh")
    wb.train_button.click()
    dash = got["dashboard"]
    line = text.status_text(dash)
    assert dash.lang == "zh" and line.startswith("第 1/1 轮 · 第 12/12 步 · 每秒 ") and "预计剩余 0:00" in line
    assert "最佳 val_loss " in line and "（第 1 轮）" in line and "epoch" not in line
    dash.lang = "en"                                                  # a plain fit's dashboard: English
    assert text.status_text(dash).startswith("epoch 1/1 · step 12/12 · ")
    monkeypatch.setattr(app, "wants_widgets", lambda: False)          # no widgets: fit's own default
    assert wb._dashboard() == {}


def test_show_code_is_the_whole_run():
    wb = Workbench(_small(), preview=False)
    assert wb.code_tools.layout.display == "none"
    code = wb.show_code()
    compile(code, "train.py", "exec")
    assert wb.copy_button.text == code and wb.code_tools.layout.display == ""
    import base64
    href = wb.download.value.split('href="data:text/x-python;base64,')[1].split('"')[0]
    assert base64.b64decode(href).decode() == code and 'download="train.py"' in wb.download.value
    assert "def evaluate(model, loader, eval_step, update, device):" in code
    assert "torch.optim.Adam(model.parameters(), lr=0.001)" in code
    assert "def evaluate(model, loader, eval_step, update, device):" in wb.code.value


def test_background_training_keeps_the_kernel_free_and_stop_works():
    spec = _small()
    spec.loop.epochs = 3
    wb = Workbench(spec, preview=False, background=True)
    run = wb.train_button.click() or wb.run
    assert run is not None and not wb.stop_button.disabled and wb.train_button.disabled
    wb.stop_button.click()
    wb._watcher.join(60)
    assert run.done and len(wb.history.epochs) < 3
    assert wb.stop_button.disabled and not wb.train_button.disabled
    assert wb.status.value.startswith(f"stopped by you at epoch {run.state.epoch + 1}: ")


def test_param_group_patterns_are_checked_against_the_model():
    wb = Workbench(_small(), preview=False, background=False)
    wb.optim.add_group.click()
    wb.optim.group_rows[0].pattern.value = "fc*"
    why = ("Optimizer: optim.groups[0].pattern: pattern 'fc*' matches no layer "
           "(layer names are: 0, 1, 2, 3, 4, 5)")
    assert wb.error == why and wb.train_button.disabled and "matches no layer" in wb.optim.message.value
    wb.optim.group_rows[0].pattern.value = "5"
    assert wb.error == "" and not wb.train_button.disabled and wb.optim.message.value == ""


def test_a_full_spec_round_trips_through_the_workbench():
    from nbtrain.spec import OptimSpec, ParamGroupSpec, TransformSpec
    from nbtrain.widgets.presets import named_cnn
    spec = _small()
    spec.data.train_transforms[0:0] = [TransformSpec("RandomRotation", {"degrees": 5.0})]
    spec.data.seed, spec.data.val_split = 3, 0.3
    spec.model = named_cnn(10)
    spec.model.layers[0].init = "xavier_uniform"
    spec.model.init, spec.model.init_params = "kaiming_normal", {"nonlinearity": "relu"}
    spec.optim = OptimSpec("SGD", lr=0.05, params={"momentum": 0.9}, groups=[ParamGroupSpec("fc*", lr=0.01)])
    spec.sched = SchedSpec("CosineAnnealingLR", warmup=1, swa=True, swa_start=2, swa_lr=0.01)
    spec.loop.epochs, spec.loop.metrics, spec.loop.grad_clip = 3, ["accuracy", "topk_accuracy"], 1.0
    wb = Workbench(spec, preview=False, background=False)
    assert wb.spec == spec and wb.error == ""
    wb2 = Workbench(preview=False, background=False)
    wb2.spec = TrainSpec.from_json(wb.spec.to_json())
    assert wb2.spec == spec and wb2.error == ""


def test_bad_values_in_every_tab_keep_the_last_valid_spec():
    spec = _small()
    wb = Workbench(spec, preview=False, background=False)
    wb.data.fields.inputs["val_split"].value = 2.0
    wb.model.rows.rows[1].params.fields["out_features"].input.value = 0
    wb.optim.lr.value = -1.0
    wb.sched.fields.inputs["warmup"].value = 50
    wb.loop.inputs["grad_clip"].value = -1.0
    assert wb.spec == spec and wb.train_button.disabled
    assert wb.error == "Data: val_split: must be in (0, 1), got 2 (e.g. 0.2 holds out 20% of the samples for validation)"
    for part, text in ((wb.data.fields.messages["val_split"], "must be in (0, 1)"),
                       (wb.model.rows.rows[1].message, "must be &gt;= 1"),          # inline: on its row
                       (wb.optim.message, "must be &gt; 0"),
                       (wb.sched.message, "warm-up of 50 steps"),
                       (wb.loop.messages["grad_clip"], "must be &gt;= 0")):
        assert text in part.value
    wb.spec = spec
    assert wb.error == "" and not wb.train_button.disabled


def test_the_model_must_give_one_output_per_class():
    wb = Workbench(_small(), preview=False, background=False)
    wb.data.train.set_value([])
    wb.data.val.set_value([])
    wb.data.fields.inputs["dataset"].value = "iris"
    assert wb.error == ("Model: the model gives outputs of shape (10,) but iris has 3 classes "
                        "(make the last layer Linear with out_features=3)")
    assert wb.train_button.disabled and wb.model.input_shape == (4,)
    wb.model.rows.rows[-1].params.fields["out_features"].input.value = 3
    assert wb.error == "" and not wb.train_button.disabled
    wb.data.fields.inputs["dataset"].value = "csv"                    # no file: the Data tab says so
    assert wb.error.startswith("Data: data.path") and wb.show_code().startswith('"""Generated')


def test_show_code_exports_csv_data(tmp_path):
    wb = Workbench(_small(), preview=False, background=False)
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    wb.data.train.set_value([])
    wb.data.val.set_value([])
    wb.data.fields.inputs["dataset"].value = "csv"
    wb.data.fields.inputs["path"].value = str(tmp_path / "t.csv")
    assert wb.spec.data.dataset == "csv"
    code = wb.show_code()
    assert f"path={str(tmp_path / 't.csv')!r}" in code and "x, y, task, class_names = read_csv(CSV)" in code


def test_switching_to_iris_clears_transforms_and_offers_the_mlp_preset():
    wb = Workbench(preview=False, background=False)                    # the default: a CNN on digits
    wb.data.fields.inputs["dataset"].value = "iris"
    assert wb.spec.data.train_transforms == [] and wb.data.error == ""  # no transform error
    assert wb.error.startswith("Model: model.layers[0] (Conv2d): needs input of shape (C, H, W), got (4,)")
    assert wb.mlp_button.layout.display == "" and wb.model.rows.rows[0].fix.description == "Use MLP preset"
    wb.mlp_button.click()
    assert wb.error == "" and wb.spec.model == mlp(3) and wb.mlp_button.layout.display == "none"
    assert "input (4,) \u2192 output (3,)" in wb.model.totals.value     # the totals follow the data


def test_the_workbench_in_chinese():
    wb = Workbench(_small(), preview=False, background=False, lang="zh")
    assert [wb.tabs.get_title(i) for i in range(5)] == ["数据", "模型", "优化器", "学习率调度", "训练"]
    assert wb.train_button.description == "训练" and wb.loop.inputs["epochs"].description == "轮数"
    assert wb.model.rows.rows[1].buttons["delete"].tooltip == "删除此行"
    wb.model.rows.rows[1].params.fields["in_features"].input.value = "100"
    assert wb.error.startswith("Model: model.layers[1] (Linear): expects 100")        # errors stay English
    assert "无法训练" in wb.status.value
    with pytest.raises(Exception, match="unknown language 'fr'"):
        Workbench(_small(), preview=False, lang="fr")


def test_the_readme_shows_every_tab_in_both_themes_and_languages():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    shown = set(re.findall(r'<img src="(docs/screenshots/workbench_\w+\.png)"', (root / "README.md").read_text()))
    made = (root / "tests" / "browser" / "test_workbench.py").read_text()
    want = {f"docs/screenshots/workbench_{tab}_{theme}_{lang}.png" for tab in ("data", "model", "optimizer",
            "schedule", "train") for theme in ("light", "dark") for lang in ("en", "zh")}
    assert shown == want
    assert [p for p in sorted(want) if not (root / p).is_file()] == []
    assert '_shoot(wb, f"{tab.lower()}_{theme}_{lang}")' in made      # the browser test writes each of them
    assert 'THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}' in made


def test_a_background_runs_page_gets_the_train_tabs_end_state_again(monkeypatch):
    """Colab may drop what the Workbench's watcher thread sends at the end: the dashboard's answer to the page's
    next request re-sends the status line and the buttons (Dashboard.after_end)."""
    from nbtrain.widgets import app
    monkeypatch.setattr(app, "wants_widgets", lambda: True)
    wb = Workbench(preview=False, background=True)
    dash = wb._dashboard()["dashboard"]
    sent = []
    for name in ("status", "train_button", "stop_button"):
        monkeypatch.setattr(getattr(wb, name), "send_state", lambda key=None, n=name: sent.append(n))
    assert dash.after_end == [wb._resend]
    dash.after_end[0]()
    assert sent == ["status", "train_button", "stop_button"]


def test_the_train_tabs_processes_field_trains_on_that_many_workers():
    seen = []
    wb = Workbench(_small(), fit=lambda spec, **kw: seen.append(kw), preview=False, background=False)
    wb.train_button.click()
    wb.processes.value = 2
    wb.train_button.click()
    assert "processes" not in seen[0] and seen[1]["processes"] == 2
    assert wb.processes.description == "processes" and wb.processes.min == 1
    assert Workbench(_small(), preview=False, background=False, lang="zh").processes.description == "进程数"
