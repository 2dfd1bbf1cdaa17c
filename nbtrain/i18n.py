"""The Workbench's words in English and Chinese: one table, ``TABLE[key] = (en, zh)``.

Keys are short names for UI strings (``"tab.model"``), spec and catalog field names (``"warmup_start_factor"``:
their human label) and the English help lines of the catalog and the spec (their translation). Error messages
stay English: they name spec fields, which are the same in every language.
"""
from __future__ import annotations

import locale
import os

from .errors import NbtrainError

LANGS = ("en", "zh")

UI = {
    "tab.data": ("Data", "数据"), "tab.model": ("Model", "模型"), "tab.optimizer": ("Optimizer", "优化器"),
    "tab.schedule": ("Schedule", "学习率调度"), "tab.train": ("Train", "训练"),
    "spec_file": ("spec file", "配置文件"), "save": ("Save", "保存"), "load": ("Load", "载入"),
    "save.tip": ("write the spec as JSON", "把配置写成 JSON 文件"),
    "load.tip": ("read a JSON spec into every tab", "把 JSON 配置读入每个标签页"),
    "saved": ("saved {path}", "已保存 {path}"), "loaded": ("loaded {path}", "已载入 {path}"),
    "train": ("Train", "训练"), "train.tip": ("train this spec", "用此配置训练"),
    "stop": ("Stop", "停止"), "stop.tip": ("stop the background run after the batch in progress",
                                            "当前批次结束后停止后台训练"),
    "training": ("training...", "训练中..."), "done": ("done: {logs}", "完成：{logs}"),
    "stopped": ("stopped by you at epoch {epoch}: {logs}", "已由你在第 {epoch} 轮停止：{logs}"),
    "stopped_early": ("stopped at epoch {epoch} ({reason}): {logs}", "在第 {epoch} 轮停止（{reason}）：{logs}"),
    "cannot_train": ("cannot train: fix {where} first", "无法训练：请先修正{where}"),
    "show_code": ("Show code", "显示代码"), "show_code.tip": ("the whole run as one plain-PyTorch script",
                                                          "整个训练过程对应的纯 PyTorch 脚本"),
    "copy": ("Copy", "复制"), "copy.tip": ("copy the script to the clipboard", "把脚本复制到剪贴板"),
    "download": ("Download .py", "下载 .py"), "copied": ("copied", "已复制"),
    "add_layer": ("Add layer", "添加层"), "add": ("Add", "添加"), "add.tip": ("add a row at the end", "在末尾添加一行"),
    "add_type.tip": ("the type of the row the + buttons add", "+ 按钮添加的行的类型"),
    "insert.tip": ("insert a new row above this one", "在此行上方插入新行"), "up.tip": ("move up", "上移"),
    "down.tip": ("move down", "下移"), "duplicate.tip": ("duplicate this row", "复制此行"),
    "delete.tip": ("delete this row", "删除此行"),
    "more.tip": ("all parameters of this row", "此行的全部参数"), "name": ("name", "名称"),
    "preset": ("preset", "预设"), "load_preset": ("Load preset", "载入预设"),
    "load_preset.tip": ("replace the layers with the preset", "用预设替换所有层"),
    "model_init": ("model init", "模型初始化"), "default_init": ("default init", "默认初始化"),
    "code": ("Code", "代码"), "code.tip": ("the PyTorch code of this tab", "此标签页对应的 PyTorch 代码"),
    "totals": ("input {inp} \u2192 output {out}; <b>{total}</b> parameters ({trainable} trainable)",
               "输入 {inp} \u2192 输出 {out}；共 <b>{total}</b> 个参数（{trainable} 个可训练）"),
    "params_n": ("{n} params", "{n} 参数"),
    "train_pipeline": ("Train pipeline", "训练数据变换"), "val_pipeline": ("Validation pipeline", "验证数据变换"),
    "samples": ("Augmented training samples", "增强后的训练样本"),
    "no_images": ("(a tabular dataset: no images to show)", "（表格数据集：没有图像可显示）"),
    "stats": ("compute mean/std", "计算均值/标准差"),
    "stats.tip": ("per-channel mean and std of the training set, written into Normalize",
                  "训练集每个通道的均值和标准差，写入 Normalize"),
    "mean_std": ("mean {mean}, std {std}", "均值 {mean}，标准差 {std}"),
    "tabular_switch": ("{ds} is a tabular set: image transforms cleared.", "{ds} 是表格数据集：已清除图像变换。"),
    "use_mlp": ("Use MLP preset", "使用 MLP 预设"), "add_flatten": ("Add Flatten", "添加 Flatten"),
    "set_to": ("Set {field} to {value}", "把 {field} 设为 {value}"),
    "optimizer": ("optimizer", "优化器"), "lr": ("learning rate", "学习率"),
    "groups": ("<b>Param groups</b> (by layer name; the rest use the values above)",
               "<b>参数组</b>（按层名匹配；其余参数使用上面的设置）"),
    "add_group": ("Add group", "添加参数组"),
    "add_group.tip": ("a param group: layers whose name matches a pattern, with their own lr",
                      "参数组：名称匹配模式的层，使用各自的学习率"),
    "remove_group.tip": ("remove this group", "删除此参数组"),
    "scheduler": ("scheduler", "调度器"), "constant": ("constant (none)", "恒定（无）"),
    "lr_preview": ("LR preview", "学习率预览"), "preview_epochs": ("preview epochs", "预览轮数"),
    "preview_epochs.tip": ("epochs shown in the preview (the Train tab's epochs in the Workbench)",
                           "预览中显示的轮数（工作台中取训练页的轮数）"),
    "steps_per_epoch": ("steps per epoch", "每轮步数"), "steps_per_epoch.tip": ("batches per epoch", "每轮的批次数"),
    "find_lr": ("Find LR", "寻找学习率"),
    "find_lr.tip": ("run the LR range test on the model and data (restores the weights)",
                    "在模型和数据上做学习率范围测试（之后恢复权重）"),
    "finding": ("running the LR range test...", "正在做学习率范围测试..."),
    "suggested": ("suggested lr: <b>{lr}</b>", "建议学习率：<b>{lr}</b>"),
    "use_suggestion": ("use {lr}", "使用 {lr}"),
    "use_suggestion.tip": ("set {field} to the LR finder's suggestion", "把 {field} 设为学习率查找器的建议值"),
    "off": ("off", "关闭"), "auto": ("auto", "自动"),
    "layer": ("layer", "层"), "transform": ("transform", "变换"),
    "diagram": ("click a block to select its row", "点击方块选中对应的行"),
}

# human labels of spec and catalog field names (the field name and its help go in the tooltip)
LABELS = {
    "dataset": ("dataset", "数据集"), "batch_size": ("batch size", "批大小"), "val_split": ("validation fraction", "验证集比例"),
    "use_test_split": ("validate on test split", "用测试集验证"), "seed": ("seed", "随机种子"),
    "shuffle": ("shuffle", "打乱顺序"), "drop_last": ("drop last batch", "丢弃最后不完整批次"),
    "random_val": ("random val transforms", "验证集随机变换"), "in_memory": ("in-memory data", "数据放入内存"),
    "path": ("path", "路径"), "root": ("data folder", "数据目录"), "download": ("download", "下载"),
    "image_size": ("image size", "图像尺寸"), "standardize": ("standardize", "标准化"),
    "image_shape": ("image shape", "图像形状"), "num_classes": ("classes", "类别数"), "size": ("size", "大小"),
    "delimiter": ("delimiter", "分隔符"), "header": ("header row", "表头行"), "target": ("target column", "目标列"),
    "features": ("feature columns", "特征列"), "task": ("task", "任务"),
    "epochs": ("epochs", "轮数"), "loss": ("loss", "损失函数"), "metrics": ("metrics", "指标"), "device": ("device", "设备"),
    "amp": ("mixed precision", "混合精度"), "grad_clip": ("gradient clip", "梯度裁剪"),
    "log_every": ("log every (steps)", "每隔多少步记录"), "logdir": ("TensorBoard folder", "TensorBoard 目录"),
    "run_name": ("run name", "运行名称"), "checkpoint_dir": ("checkpoint folder", "检查点目录"),
    "early_stopping": ("early stopping patience", "早停耐心轮数"), "monitor": ("monitor", "监控指标"),
    "mode": ("mode", "模式"), "interval": ("step per", "调度间隔"), "warmup": ("warm-up steps", "预热步数"),
    "warmup_start_factor": ("warm-up start factor", "预热起始系数"), "swa": ("weight averaging (SWA)", "权重平均 (SWA)"),
    "swa_start": ("SWA start epoch", "SWA 起始轮"), "swa_lr": ("SWA learning rate", "SWA 学习率"),
    "swa_anneal_epochs": ("SWA anneal epochs", "SWA 退火轮数"), "lr": ("learning rate", "学习率"),
    "pattern": ("layers", "层名模式"), "weight_decay": ("weight decay", "权重衰减"),
}


def default_lang() -> str:
    """'zh' when the locale (LANG, LC_ALL, LC_MESSAGES or Python's locale) is Chinese, else 'en'."""
    names = [os.environ.get(k, "") for k in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")]
    try:
        names.append(locale.getlocale()[0] or "")
    except ValueError:  # an unknown locale name in the environment
        pass
    return "zh" if any(n.lower().startswith("zh") for n in names) else "en"


def check_lang(lang: str | None) -> str:
    """``lang`` if known; None: the locale's default."""
    if lang is None:
        return default_lang()
    if lang not in LANGS:
        raise NbtrainError(f"unknown language {lang!r}", "Workbench(lang=...)", "use 'en' or 'zh'")
    return lang


def t(key: str, lang: str = "en", **kw) -> str:
    """The UI string ``key`` in ``lang``, formatted with ``kw``."""
    text = UI[key][LANGS.index(lang)]
    return text.format(**kw) if kw else text


def label(name: str, lang: str = "en") -> str:
    """The human label of a spec field; a catalog parameter keeps its torch name (the code it stands for)."""
    pair = LABELS.get(name)
    return pair[LANGS.index(lang)] if pair else name


def help_line(text: str, lang: str = "en") -> str:
    """A catalog or spec help line in ``lang`` (English when the table has no translation)."""
    if lang == "en" or not text:
        return text
    return HELP.get(text, text)


def tooltip(name: str, help: str, lang: str = "en") -> str:
    """A field's tooltip: its spec name and its help line."""
    return f"{name}: {help_line(help, lang)}"


HELP: dict[str, str] = {}
