"""The translation table: every UI string, label and help line in English and Chinese, with the same
placeholders; the default language from the locale; a Chinese Workbench shows Chinese help."""
import dataclasses
import re
import string

import pytest

import nbtrain.spec as S
from nbtrain import i18n
from nbtrain.errors import NbtrainError
from nbtrain.spec.catalog import INITS, LAYERS, LOSSES, METRICS, OPTIMIZERS, SCHEDULERS, TRANSFORMS
from nbtrain.spec.catalog.datasets import DATASETS

CJK = re.compile(r"[\u4e00-\u9fff]")
TABLES = (LAYERS, INITS, OPTIMIZERS, SCHEDULERS, LOSSES, METRICS, TRANSFORMS, DATASETS)
SPECS = (S.DataSpec, S.TransformSpec, S.LayerSpec, S.ModelSpec, S.ParamGroupSpec, S.OptimSpec, S.SchedSpec,
         S.LoopSpec)


def _fields(text: str) -> set:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("table", ["UI", "LABELS"])
def test_every_key_has_both_languages_with_the_same_placeholders(table):
    for key, pair in getattr(i18n, table).items():
        assert len(pair) == len(i18n.LANGS) == 2 and all(pair), key
        assert CJK.search(pair[1]), (key, pair[1])
        assert _fields(pair[0]) == _fields(pair[1]), key


def test_every_catalog_and_spec_help_line_has_chinese():
    helps = [e.help for t in TABLES for e in t.values()] + [p.help for t in TABLES for e in t.values()
                                                             for p in e.params]
    helps += [fl.metadata["help"] for c in SPECS for fl in dataclasses.fields(c)]
    missing = sorted({h for h in helps if h not in i18n.HELP})
    assert missing == []
    assert all(CJK.search(i18n.HELP[h]) or h == i18n.HELP[h] for h in helps)
    assert sum(bool(CJK.search(v)) for v in i18n.HELP.values()) >= len(i18n.HELP) - 5   # formulas stay as they are


def test_lookups():
    assert i18n.t("tab.model", "zh") == "模型" and i18n.t("saved", "en", path="a.json") == "saved a.json"
    assert i18n.label("warmup_start_factor") == "warm-up start factor" and i18n.label("out_channels") == "out_channels"
    assert i18n.help_line("number of filters (output channels)", "zh") == "卷积核个数（输出通道数）"
    assert i18n.help_line("not in the table", "zh") == "not in the table"
    assert i18n.tooltip("epochs", "passes over the training set", "zh") == "epochs: 遍历训练集的次数"


def test_the_default_language_follows_the_locale(monkeypatch):
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(i18n.locale, "getlocale", lambda: ("en_US", "UTF-8"))
    assert i18n.default_lang() == "en" and i18n.check_lang(None) == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.default_lang() == "zh" and i18n.check_lang("en") == "en"
    with pytest.raises(NbtrainError, match=r"^Workbench\(lang=...\): unknown language 'de' \(use 'en' or 'zh'\)$"):
        i18n.check_lang("de")


def test_a_chinese_workbench_shows_chinese_help():
    from nbtrain.widgets import Workbench
    from nbtrain.widgets.compat import tip_of
    wb = Workbench(preview=False, background=False, lang="zh")
    assert tip_of(wb.model.rows.rows[0].type) == "Conv2d: 对 (C, H, W) 输入做二维卷积"
    assert tip_of(wb.model.rows.rows[0].params.fields["stride"].input) == "stride: 窗口的步长"
    assert wb.loop.inputs["early_stopping"].options[0] == ("关闭", 0)
    assert tip_of(wb.data.fields.inputs["dataset"]).startswith("dataset: scikit-learn 的 1797 张手写数字")
    assert wb.optim.lr_line.find_button.description == "寻找学习率" and wb.optim.type.description == "优化器"


def test_the_dashboard_status_line_in_both_languages():
    from types import SimpleNamespace

    from nbtrain.sinks.control import Control
    from nbtrain.sinks.dashboard import text
    from nbtrain.train.history import History
    record = History([{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": 0.25}])
    record.watch("val_loss", "min")
    state = SimpleNamespace(epoch=1, epochs=4, step=30, steps_per_epoch=20, train_loader=SimpleNamespace(batch_size=8),
                            stop_reason="stopped by you", spec=None, history=record)
    now = [0.0]
    control = Control(clock=lambda: now[0])
    control.on_fit_start(state)                                  # the fit starts at 0 s; the line is read at 10 s
    now[0] = 10.0
    dash = SimpleNamespace(state=state, control=control)
    english = "epoch 2/4 · step 30/80 · 24 samples/s · ETA 0:17 · best val_loss 0.25 (epoch 2) · stopped: stopped by you"
    assert text.status_text(dash) == english                     # no language set: English, as a plain fit's
    dash.lang = "zh"
    assert text.status_text(dash) == ("第 2/4 轮 · 第 30/80 步 · 每秒 24 个样本 · 预计剩余 0:17 · 最佳 val_loss 0.25（第 2 轮）"
                                      " · 已停止：由你停止")
    state.stop_reason = "early stopping: val_loss did not improve for 3 epochs"    # the loop's words stay English
    assert text.status_text(dash).endswith("已停止：early stopping: val_loss did not improve for 3 epochs")
    dash.state = None
    assert text.status_text(dash) == "正在启动"
