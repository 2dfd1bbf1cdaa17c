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
    'tab.data': ('Data', '数据'), 'tab.model': ('Model', '模型'), 'tab.optimizer': ('Optimizer', '优化器'),
    'tab.schedule': ('Schedule', '学习率调度'), 'tab.train': ('Train', '训练'), 'spec_file': ('spec file', '配置文件'),
    'save': ('Save', '保存'), 'load': ('Load', '载入'), 'save.tip': ('write the spec as JSON', '把配置写成 JSON 文件'),
    'load.tip': ('read a JSON spec into every tab', '把 JSON 配置读入每个标签页'), 'saved': ('saved {path}', '已保存 {path}'),
    'loaded': ('loaded {path}', '已载入 {path}'), 'train': ('Train', '训练'), 'train.tip': ('train this spec', '用此配置训练'),
    'stop': ('Stop', '停止'), 'stop.tip': ('stop the background run after the batch in progress', '当前批次结束后停止后台训练'),
    'training': ('training...', '训练中...'), 'done': ('done: {logs}', '完成：{logs}'),
    'stopped': ('stopped by you at epoch {epoch}: {logs}', '已由你在第 {epoch} 轮停止：{logs}'),
    'stopped_early': ('stopped at epoch {epoch} ({reason}): {logs}', '在第 {epoch} 轮停止（{reason}）：{logs}'),
    'cannot_train': ('cannot train: fix {where} first', '无法训练：请先修正{where}'), 'show_code': ('Show code', '显示代码'),
    'show_code.tip': ('the whole run as one plain-PyTorch script', '整个训练过程对应的纯 PyTorch 脚本'), 'copy': ('Copy', '复制'),
    'copy.tip': ('copy the script to the clipboard', '把脚本复制到剪贴板'), 'download': ('Download .py', '下载 .py'),
    'copied': ('copied', '已复制'), 'add_layer': ('Add layer', '添加层'), 'add': ('Add', '添加'),
    'add.tip': ('add a row at the end', '在末尾添加一行'),
    'add_type.tip': ('the type of the row the + buttons add', '+ 按钮添加的行的类型'),
    'insert.tip': ('insert a new row above this one', '在此行上方插入新行'), 'up.tip': ('move up', '上移'),
    'down.tip': ('move down', '下移'), 'duplicate.tip': ('duplicate this row', '复制此行'),
    'delete.tip': ('delete this row', '删除此行'), 'more.tip': ('all parameters of this row', '此行的全部参数'),
    'name': ('name', '名称'), 'preset': ('preset', '预设'), 'load_preset': ('Load preset', '载入预设'),
    'load_preset.tip': ('replace the layers with the preset', '用预设替换所有层'), 'model_init': ('model init', '模型初始化'),
    'default_init': ('default init', '默认初始化'), 'code': ('Code', '代码'),
    'code.tip': ('the PyTorch code of this tab', '此标签页对应的 PyTorch 代码'),
    'totals': ('input {inp} → output {out}; <b>{total}</b> parameters ({trainable} trainable)',
        '输入 {inp} → 输出 {out}；共 <b>{total}</b> 个参数（{trainable} 个可训练）'),
    'params_n': ('{n} params', '{n} 参数'), 'train_pipeline': ('Train pipeline', '训练数据变换'),
    'val_pipeline': ('Validation pipeline', '验证数据变换'), 'samples': ('Augmented training samples', '增强后的训练样本'),
    'no_images': ('(a tabular dataset: no images to show)', '（表格数据集：没有图像可显示）'),
    'stats': ('compute mean/std', '计算均值/标准差'),
    'stats.tip': ('per-channel mean and std of the training set, written into Normalize',
        '训练集每个通道的均值和标准差，写入 Normalize'),
    'mean_std': ('mean {mean}, std {std}', '均值 {mean}，标准差 {std}'),
    'tabular_switch': ('{ds} is a tabular set: image transforms cleared.', '{ds} 是表格数据集：已清除图像变换。'),
    'use_mlp': ('Use MLP preset', '使用 MLP 预设'), 'add_flatten': ('Add Flatten', '添加 Flatten'),
    'set_to': ('Set {field} to {value}', '把 {field} 设为 {value}'), 'optimizer': ('optimizer', '优化器'),
    'lr': ('learning rate', '学习率'),
    'groups': ('<b>Param groups</b> (by layer name; the rest use the values above)', '<b>参数组</b>（按层名匹配；其余参数使用上面的设置）'),
    'add_group': ('Add group', '添加参数组'),
    'add_group.tip': ('a param group: layers whose name matches a pattern, with their own lr',
        '参数组：名称匹配模式的层，使用各自的学习率'),
    'remove_group.tip': ('remove this group', '删除此参数组'), 'scheduler': ('scheduler', '调度器'),
    'constant': ('constant (none)', '恒定（无）'), 'lr_preview': ('LR preview', '学习率预览'),
    'preview_epochs': ('preview epochs', '预览轮数'),
    'preview_epochs.tip': ("epochs shown in the preview (the Train tab's epochs in the Workbench)",
        '预览中显示的轮数（工作台中取训练页的轮数）'),
    'steps_per_epoch': ('steps per epoch', '每轮步数'), 'steps_per_epoch.tip': ('batches per epoch', '每轮的批次数'),
    'find_lr': ('Find LR', '寻找学习率'),
    'find_lr.tip': ('run the LR range test on the model and data (restores the weights)', '在模型和数据上做学习率范围测试（之后恢复权重）'),
    'finding': ('running the LR range test...', '正在做学习率范围测试...'),
    'suggested': ('suggested lr: <b>{lr}</b>', '建议学习率：<b>{lr}</b>'), 'use_suggestion': ('use {lr}', '使用 {lr}'),
    'use_suggestion.tip': ("set {field} to the LR finder's suggestion", '把 {field} 设为学习率查找器的建议值'),
    'off': ('off', '关闭'), 'auto': ('auto', '自动'), 'layer': ('layer', '层'), 'transform': ('transform', '变换'),
    'diagram': ('click a block to select its row', '点击方块选中对应的行'),
    # the live dashboard's status line (fit from a Workbench in its language; a plain fit's stays English)
    'dash.starting': ('starting', '正在启动'), 'dash.epoch': ('epoch {e}/{n}', '第 {e}/{n} 轮'),
    'dash.step': ('step {s}/{n}', '第 {s}/{n} 步'), 'dash.samples': ('{n} samples/s', '每秒 {n} 个样本'),
    'dash.steps': ('{n} steps/s', '每秒 {n} 步'), 'dash.eta': ('ETA {t}', '预计剩余 {t}'),
    'dash.best': ('best {name} {v} (epoch {e})', '最佳 {name} {v}（第 {e} 轮）'), 'dash.paused': ('paused', '已暂停'),
    'dash.stopped': ('stopped: {reason}', '已停止：{reason}'), 'dash.by_you': ('stopped by you', '由你停止'),
}

# human labels of spec and catalog field names (the field name and its help go in the tooltip)
LABELS = {
    'dataset': ('dataset', '数据集'), 'batch_size': ('batch size', '批大小'), 'val_split': ('validation fraction', '验证集比例'),
    'use_test_split': ('validate on test split', '用测试集验证'), 'seed': ('seed', '随机种子'), 'shuffle': ('shuffle', '打乱顺序'),
    'drop_last': ('drop last batch', '丢弃最后不完整批次'), 'random_val': ('random val transforms', '验证集随机变换'),
    'in_memory': ('in-memory data', '数据放入内存'), 'path': ('path', '路径'), 'root': ('data folder', '数据目录'),
    'download': ('download', '下载'), 'image_size': ('image size', '图像尺寸'), 'standardize': ('standardize', '标准化'),
    'image_shape': ('image shape', '图像形状'), 'num_classes': ('classes', '类别数'), 'size': ('size', '大小'),
    'delimiter': ('delimiter', '分隔符'), 'header': ('header row', '表头行'), 'target': ('target column', '目标列'),
    'features': ('feature columns', '特征列'), 'task': ('task', '任务'), 'epochs': ('epochs', '轮数'),
    'loss': ('loss', '损失函数'), 'metrics': ('metrics', '指标'), 'device': ('device', '设备'),
    'amp': ('mixed precision', '混合精度'), 'grad_clip': ('gradient clip', '梯度裁剪'),
    'log_every': ('log every (steps)', '每隔多少步记录'), 'logdir': ('TensorBoard folder', 'TensorBoard 目录'),
    'run_name': ('run name', '运行名称'), 'checkpoint_dir': ('checkpoint folder', '检查点目录'),
    'early_stopping': ('early stopping', '早停耐心轮数'), 'monitor': ('monitor', '监控指标'), 'mode': ('mode', '模式'),
    'interval': ('step per', '调度间隔'), 'warmup': ('warm-up steps', '预热步数'),
    'warmup_start_factor': ('warm-up start factor', '预热起始系数'), 'swa': ('weight averaging (SWA)', '权重平均 (SWA)'),
    'swa_start': ('SWA start epoch', 'SWA 起始轮'), 'swa_lr': ('SWA learning rate', 'SWA 学习率'),
    'swa_anneal_epochs': ('SWA anneal epochs', 'SWA 退火轮数'), 'lr': ('learning rate', '学习率'),
    'pattern': ('layers', '层名模式'), 'weight_decay': ('weight decay', '权重衰减'),
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


# the catalog's and the specs' help lines in Chinese, keyed by the English line (tests/test_i18n.py checks
# that every one has its translation)
HELP: dict[str, str] = {
    'fully connected layer: y = x W^T + b': '全连接层：y = x W^T + b',
    "size of each input sample (inferred from the shape flowing in when 'auto')": "每个输入样本的大小（为 'auto' 时由流入的形状推断）",
    'size of each output sample': '每个输出样本的大小', 'learn an additive bias': '学习一个加性偏置',
    '1-D convolution over (C, L) inputs': '对 (C, L) 输入做一维卷积',
    "input channels (inferred from the shape flowing in when 'auto')": "输入通道数（为 'auto' 时由流入的形状推断）",
    'number of filters (output channels)': '卷积核个数（输出通道数）',
    'size of the sliding window (int or [h, w])': '滑动窗口的大小（整数或 [h, w]）', 'step of the window': '窗口的步长',
    "zeros added on each side (int, [h, w], 'same' or 'valid')": "每侧补零的数量（整数、[h, w]、'same' 或 'valid'）",
    'spacing between kernel elements': '卷积核元素之间的间距',
    'blocked connections from input to output channels': '从输入通道到输出通道的分组连接数', 'how padding values are made': '填充值的生成方式',
    '2-D convolution over (C, H, W) inputs': '对 (C, H, W) 输入做二维卷积', '2-D max pooling': '二维最大池化',
    'step of the window (null: kernel_size)': '窗口的步长（null：等于 kernel_size）', 'implicit padding on each side': '每侧的隐式填充',
    'round output size up': '输出尺寸向上取整', '2-D average pooling': '二维平均池化',
    'count the zero padding in the average': '平均时计入补零', 'average pooling to a fixed output size': '平均池化到固定的输出尺寸',
    'target output size (int or [h, w])': '目标输出尺寸（整数或 [h, w]）',
    'batch normalisation over (N, C) or (N, C, L)': '对 (N, C) 或 (N, C, L) 做批归一化',
    "channels (inferred from the shape flowing in when 'auto')": "通道数（为 'auto' 时由流入的形状推断）",
    'added to the variance for numerical stability': '加到方差上以保证数值稳定',
    'running-statistics momentum (null: cumulative average)': '滑动统计量的动量（null：累计平均）',
    'learn a per-feature scale and shift': '学习每个特征的缩放和平移', 'keep running mean/var for eval mode': '为评估模式保留滑动均值/方差',
    'batch normalisation over (N, C, H, W)': '对 (N, C, H, W) 做批归一化',
    'layer normalisation over the last dimensions': '对最后几个维度做层归一化',
    "size of the last dimension (inferred from the shape flowing in when 'auto')": "最后一个维度的大小（为 'auto' 时由流入的形状推断）",
    'randomly zeroes elements while training': '训练时随机将元素置零', 'probability of zeroing an element': '元素被置零的概率',
    'modify the input in place (saves memory)': '原地修改输入（节省内存）',
    'randomly zeroes whole channels while training': '训练时随机将整个通道置零',
    'flattens dimensions start_dim..end_dim into one': '把 start_dim..end_dim 的维度展平为一维',
    'first dimension to flatten (1 keeps the batch)': '展平的第一个维度（1 保留批维度）', 'last dimension to flatten': '展平的最后一个维度',
    'max(0, x)': 'max(0, x)', 'x if x > 0 else slope * x': 'x > 0 时为 x，否则为 slope * x',
    'slope for negative inputs': '负输入的斜率', 'Gaussian error linear unit': '高斯误差线性单元',
    "'tanh' uses the faster approximation": "'tanh' 使用更快的近似", 'exponential linear unit': '指数线性单元',
    'saturation value for negative inputs': '负输入的饱和值', 'hyperbolic tangent': '双曲正切', 'logistic sigmoid': '逻辑 sigmoid',
    'softmax over a dimension (not before CrossEntropyLoss)': '在某一维度上做 softmax（不要放在 CrossEntropyLoss 之前）',
    "dimension over which to normalise (null: torch's legacy choice)": '归一化所沿的维度（null：torch 的旧默认）',
    'log of softmax (pair it with NLLLoss)': 'softmax 的对数（与 NLLLoss 搭配）',
    'passes its input through unchanged': '原样输出输入',
    'Glorot uniform: U(-a, a), a = gain*sqrt(6/(fan_in+fan_out))':
        'Glorot 均匀分布：U(-a, a)，a = gain*sqrt(6/(fan_in+fan_out))',
    'scaling factor': '缩放系数',
    'Glorot normal: N(0, gain^2 * 2/(fan_in+fan_out))': 'Glorot 正态分布：N(0, gain^2 * 2/(fan_in+fan_out))',
    'He uniform, for ReLU networks': 'He 均匀分布，适用于 ReLU 网络',
    'negative slope of the following leaky_relu': '后接 leaky_relu 的负斜率',
    "preserve variance of the forward ('fan_in') or backward pass": "保持前向（'fan_in'）或反向传播的方差",
    'the non-linearity that follows': '后面接的非线性函数', 'He normal, for ReLU networks': 'He 正态分布，适用于 ReLU 网络',
    'U(a, b)': 'U(a, b)', 'lower bound': '下界', 'upper bound': '上界', 'N(mean, std^2)': 'N(mean, std^2)', 'mean': '均值',
    'standard deviation': '标准差', 'every weight set to val': '所有权重设为 val', 'the value': '取值',
    'identity matrix (2-D weights only)': '单位矩阵（仅限二维权重）', '(semi-)orthogonal matrix': '（半）正交矩阵',
    'sparse matrix, non-zeros drawn from N(0, std^2) (2-D weights only)': '稀疏矩阵，非零值取自 N(0, std^2)（仅限二维权重）',
    'fraction of zeros in each column': '每列中零的比例', 'std of the non-zero values': '非零值的标准差',
    'every weight set to 0': '所有权重设为 0',
    'stochastic gradient descent, with optional (Nesterov) momentum': '随机梯度下降，可选（Nesterov）动量',
    'momentum factor': '动量系数', 'dampening for momentum': '动量的阻尼', 'L2 penalty (weight decay)': 'L2 惩罚（权重衰减）',
    'Nesterov momentum (needs momentum > 0 and dampening 0)': 'Nesterov 动量（需要 momentum > 0 且 dampening 为 0）',
    'maximise the objective instead of minimising it': '最大化目标而不是最小化', 'adaptive moments': '自适应矩估计',
    '[beta1, beta2]: decay rates of the running averages': '[beta1, beta2]：滑动平均的衰减率',
    'added to the denominator for numerical stability': '加到分母上以保证数值稳定', 'use the AMSGrad variant': '使用 AMSGrad 变体',
    'Adam with decoupled weight decay': '权重衰减解耦的 Adam', 'divides the gradient by a running RMS': '用梯度平方的滑动均方根来除梯度',
    'smoothing constant': '平滑常数', 'normalise by the estimated variance': '按估计的方差归一化',
    'per-parameter LR from the sum of squared gradients': '由梯度平方和得到每个参数的学习率', 'learning rate decay': '学习率衰减',
    'starting value of the sum': '累加和的初始值', 'Adagrad with a running window': '使用滑动窗口的 Adagrad',
    'running-average coefficient': '滑动平均系数', 'Adam with the infinity norm': '使用无穷范数的 Adam', 'averaged SGD': '平均随机梯度下降',
    'decay term': '衰减项', 'power for eta update': 'eta 更新的幂次', 'point at which to start averaging': '开始平均的时刻',
    'resilient backpropagation (full-batch)': '弹性反向传播（全批量）',
    '[etaminus, etaplus]: multiplicative decrease and increase': '[etaminus, etaplus]：乘法减小和增大的倍数',
    '[min, max] allowed step size': '[min, max] 允许的步长', 'Adam with Nesterov momentum': '带 Nesterov 动量的 Adam',
    'momentum decay': '动量衰减', 'AdamW-style decay': 'AdamW 式的权重衰减', 'rectified Adam': '修正的 Adam',
    'decays the LR by gamma every step_size epochs': '每 step_size 轮把学习率乘以 gamma', 'period of LR decay': '学习率衰减的周期',
    'multiplicative factor of LR decay': '学习率衰减的乘法系数',
    'decays the LR by gamma at each milestone': '在每个里程碑把学习率乘以 gamma',
    'increasing list of epoch (or step) indices': '递增的轮（或步）序号列表',
    'decays the LR by gamma every epoch': '每轮把学习率乘以 gamma',
    'LR = initial LR * factor(epoch)': '学习率 = 初始学习率 * factor(epoch)',
    "LR factor as an expression of epoch, e.g. '0.95 ** epoch' (+-*/**, min, max, exp, cos, pi)":
        "学习率系数，写成 epoch 的表达式，例如 '0.95 ** epoch'（+-*/**、min、max、exp、cos、pi）",
    'a ready-made factor (used when expr is empty)': '现成的系数（expr 为空时使用）',
    'LR = previous LR * factor(epoch)': '学习率 = 上一次的学习率 * factor(epoch)',
    'cosine decay from the LR to eta_min over T_max': '在 T_max 内从学习率余弦衰减到 eta_min',
    "number of scheduler steps in one half cosine ('auto': the whole run)": "半个余弦周期的调度步数（'auto'：整个训练）",
    'minimum LR': '最小学习率', 'cosine decay with warm restarts (SGDR)': '带热重启的余弦衰减（SGDR）',
    'steps until the first restart': '到第一次重启的步数', 'factor that lengthens each period': '每个周期变长的倍数',
    'cycles the LR between base_lr and max_lr (steps per batch)': '在 base_lr 和 max_lr 之间循环学习率（每批次一步）',
    'lower LR bound of the cycle': '周期的学习率下界', 'upper LR bound of the cycle': '周期的学习率上界',
    'steps in the increasing half of a cycle': '周期上升半程的步数',
    'steps in the decreasing half (null: same as up)': '周期下降半程的步数（null：与上升相同）', 'cycle shape': '周期形状',
    'exp_range decay constant': 'exp_range 的衰减常数',
    'cycle momentum inversely (needs an optimizer with momentum)': '反向循环动量（需要带动量的优化器）', 'lower momentum bound': '动量下界',
    'upper momentum bound': '动量上界',
    'one cycle: warm up to max_lr, then anneal (steps per batch)': '单周期：先升到 max_lr，再退火（每批次一步）', 'peak LR': '峰值学习率',
    'total steps (null: epochs x steps per epoch)': '总步数（null：轮数 x 每轮步数）',
    'fraction of the cycle spent increasing the LR': '周期中学习率上升所占的比例', 'annealing shape': '退火形状',
    'cycle momentum inversely (needs momentum or betas)': '反向循环动量（需要 momentum 或 betas）',
    'initial LR = max_lr / div_factor': '初始学习率 = max_lr / div_factor',
    'final LR = initial LR / final_div_factor': '最终学习率 = 初始学习率 / final_div_factor',
    'use a third phase that anneals below the initial LR': '使用第三阶段，退火到初始学习率以下',
    'reduces the LR when the monitored metric stops improving': '监控的指标不再改善时降低学习率',
    "'min' for losses, 'max' for accuracies": "损失用 'min'，准确率用 'max'", 'new LR = LR * factor': '新学习率 = 学习率 * factor',
    'epochs with no improvement before reducing': '降低前没有改善的轮数',
    'minimum change that counts as improvement': '算作改善的最小变化', 'relative or absolute threshold': '相对或绝对阈值',
    'epochs to wait after a reduction': '降低后等待的轮数', 'lower bound on the LR': '学习率的下界',
    'smallest change applied to the LR': '对学习率施加的最小变化',
    'scales the LR linearly from start_factor to end_factor over total_iters':
        '在 total_iters 内把学习率从 start_factor 线性变到 end_factor',
    'factor at the first step': '第一步的系数', 'factor at the end': '结束时的系数',
    'steps until end_factor is reached': '到达 end_factor 的步数',
    'scales the LR by factor for total_iters steps': '在 total_iters 步内把学习率乘以 factor', 'the factor': '系数',
    'steps of the scaled LR': '缩放学习率的步数', 'classification from raw logits and class indices': '由原始 logits 和类别序号做分类',
    'amount of smoothing of the targets': '目标平滑的程度', 'how per-sample losses are combined': '每个样本的损失如何合并',
    'classification from log-probabilities (after LogSoftmax)': '由对数概率做分类（接在 LogSoftmax 之后）',
    'mean squared error, for regression': '均方误差，用于回归', 'mean absolute error, for regression': '平均绝对误差，用于回归',
    'Huber-like loss, for regression': '类 Huber 损失，用于回归', 'threshold between the L2 and L1 regions': 'L2 与 L1 区域之间的阈值',
    'binary / multi-label classification from logits': '由 logits 做二分类/多标签分类',
    'fraction of samples whose top prediction is the target': '最高预测等于目标的样本比例',
    'fraction of samples whose target is among the top k predictions': '目标位于前 k 个预测中的样本比例',
    'how many top predictions count': '计入的前几个预测',
    'image to a float tensor in [0, 1] (ToImage + ToDtype(float32, scale=True))':
        '图像转为 [0, 1] 的浮点张量（ToImage + ToDtype(float32, scale=True)）',
    'PIL image or array to a tensor image, dtype unchanged (uint8 stays 0..255)':
        'PIL 图像或数组转为张量图像，dtype 不变（uint8 仍为 0..255）',
    'convert the image dtype; scale=True maps 0..255 to 0..1 and back': '转换图像 dtype；scale=True 把 0..255 映射到 0..1，反之亦然',
    'target dtype': '目标 dtype', "rescale values to the new dtype's range": '把数值缩放到新 dtype 的范围',
    '(x - mean) / std per channel, on float images': '每个通道 (x - mean) / std，作用于浮点图像',
    'per-channel mean, one per channel (nbtrain.normalize_stats computes it)':
        '每个通道的均值，每通道一个（nbtrain.normalize_stats 可计算）',
    'per-channel standard deviation, one per channel': '每个通道的标准差，每通道一个',
    'resize to size (int: the shorter side, keeping the aspect ratio)': '缩放到 size（整数：短边，保持宽高比）',
    'output size: int (the shorter side for Resize, a square for crops) or [h, w]':
        '输出尺寸：整数（Resize 为短边，裁剪为正方形）或 [h, w]',
    'interpolation mode': '插值方式', 'upper bound on the longer side (null: none)': '长边的上限（null：不限）',
    'antialias when downsampling': '缩小时抗锯齿', 'crop the centre to size': '从中心裁剪到 size',
    'pad every side by padding pixels': '每边填充 padding 个像素',
    'pixels on each side: int, [left/right, top/bottom] or [l, t, r, b]': '每边的像素数：整数、[左/右, 上/下] 或 [左, 上, 右, 下]',
    "value of pixels outside the image (in the image's own scale: 0..255 for uint8)":
        '图像外像素的值（按图像自身的尺度：uint8 为 0..255）',
    'how padding pixels are made': '填充像素的生成方式', 'convert RGB to grayscale': '把 RGB 转为灰度',
    '1, or 3 identical channels': '1 个，或 3 个相同的通道',
    'crop size at a random place, after optional padding (CIFAR-style)': '在随机位置裁剪 size，可先填充（CIFAR 风格）',
    'pixels added on each side before cropping (null: none)': '裁剪前每边加的像素（null：不加）',
    'pad images smaller than size': '填充小于 size 的图像',
    "crop a random area and aspect ratio, resize to size (the seed's RandomSizedCrop)":
        '裁剪随机面积和宽高比的区域，再缩放到 size（种子教程中的 RandomSizedCrop）',
    '[min, max] fraction of the image area': '[min, max] 占图像面积的比例', '[min, max] aspect ratio': '[min, max] 宽高比',
    'mirror left-right with probability p': '以概率 p 左右翻转', 'probability of applying it to a sample': '对一个样本应用它的概率',
    'mirror top-bottom with probability p': '以概率 p 上下翻转',
    'rotate by an angle drawn from [-degrees, degrees] (or [lo, hi])': '旋转一个取自 [-degrees, degrees]（或 [lo, hi]）的角度',
    'range of angles in degrees: d for [-d, d], or [lo, hi]': '角度范围（度）：d 表示 [-d, d]，或 [lo, hi]',
    'enlarge the output to hold the whole rotated image': '放大输出以容纳整张旋转后的图像',
    'random rotation, translation, scale and shear': '随机旋转、平移、缩放和错切',
    'rotation range in degrees: d for [-d, d], or [lo, hi]': '旋转范围（度）：d 表示 [-d, d]，或 [lo, hi]',
    '[fx, fy] largest shift as a fraction of width / height (null: none)': '[fx, fy] 最大平移占宽/高的比例（null：不平移）',
    '[lo, hi] scale factor range (null: none)': '[lo, hi] 缩放系数范围（null：不缩放）',
    'shear range in degrees: s for [-s, s], or [lo, hi] (null: none)': '错切范围（度）：s 表示 [-s, s]，或 [lo, hi]（null：不错切）',
    'random brightness, contrast, saturation and hue': '随机亮度、对比度、饱和度和色调',
    'brightness: null or 0: unchanged; f: factor drawn from [max(0, 1 - f), 1 + f]; [lo, hi]: drawn from that range':
        '亮度：null 或 0 表示不变；f 表示系数取自 [max(0, 1 - f), 1 + f]；[lo, hi] 表示取自该范围',
    'contrast: null or 0: unchanged; f: factor drawn from [max(0, 1 - f), 1 + f]; [lo, hi]: drawn from that range':
        '对比度：null 或 0 表示不变；f 表示系数取自 [max(0, 1 - f), 1 + f]；[lo, hi] 表示取自该范围',
    'saturation (RGB only): null or 0: unchanged; f: factor drawn from [max(0, 1 - f), 1 + f]; [lo, hi]: drawn from that range':
        '饱和度（仅 RGB）：null 或 0 表示不变；f 表示系数取自 [max(0, 1 - f), 1 + f]；[lo, hi] 表示取自该范围',
    'hue shift (RGB only): null or 0: none; h for [-h, h] with h <= 0.5, or [lo, hi]':
        '色调偏移（仅 RGB）：null 或 0 表示不变；h 表示 [-h, h]（h <= 0.5），或 [lo, hi]',
    'blur with a Gaussian kernel of random sigma': '用随机 sigma 的高斯核模糊',
    'kernel size, odd (int or [h, w])': '核大小，奇数（整数或 [h, w]）',
    'sigma, or [min, max] to draw it from': 'sigma，或用于抽取它的 [min, max]',
    'erase a random rectangle (on float tensors, after ToTensor)': '擦除一个随机矩形（作用于浮点张量，放在 ToTensor 之后）',
    '[min, max] fraction of the image erased': '[min, max] 被擦除的图像比例',
    '[min, max] aspect ratio of the erased area': '[min, max] 擦除区域的宽高比',
    'value written into the erased area': '写入擦除区域的值',
    "scikit-learn's 1797 handwritten digits, 8x8 grayscale, 10 classes (resized to image_size)":
        'scikit-learn 的 1797 张手写数字，8x8 灰度，10 类（缩放到 image_size）',
    "scikit-learn's iris: 150 flowers, 4 features, 3 classes": 'scikit-learn 的鸢尾花：150 朵花，4 个特征，3 类',
    "scikit-learn's wine: 178 wines, 13 features, 3 classes": 'scikit-learn 的葡萄酒：178 种酒，13 个特征，3 类',
    "scikit-learn's breast cancer: 569 samples, 30 features, 2 classes": 'scikit-learn 的乳腺癌：569 个样本，30 个特征，2 类',
    'torchvision FakeData: random images of any image_shape and num_classes':
        'torchvision FakeData：任意 image_shape 和 num_classes 的随机图像',
    'torchvision MNIST: 60000 + 10000 handwritten digits, 1x28x28': 'torchvision MNIST：60000 + 10000 张手写数字，1x28x28',
    'torchvision FashionMNIST: 60000 + 10000 clothing images, 1x28x28, 10 classes':
        'torchvision FashionMNIST：60000 + 10000 张服装图像，1x28x28，10 类',
    'torchvision CIFAR10: 50000 + 10000 colour images, 3x32x32, 10 classes':
        'torchvision CIFAR10：50000 + 10000 张彩色图像，3x32x32，10 类',
    'a CSV file (or .csv.gz) of numbers: features and one target column': '数值 CSV 文件（或 .csv.gz）：特征和一个目标列',
    'torchvision ImageFolder: a folder with one subfolder of images per class':
        'torchvision ImageFolder：每个类别一个子文件夹的图像目录',
    'digits, iris, wine, breast_cancer, synthetic, mnist, fashion_mnist, cifar10, csv, image_folder (see nbtrain.catalog.DATASETS)':
        'digits、iris、wine、breast_cancer、synthetic、mnist、fashion_mnist、cifar10、csv、image_folder（见 nbtrain.catalog.DATASETS）',
    'folder of torchvision dataset files (mnist, fashion_mnist, cifar10)':
        'torchvision 数据集文件所在目录（mnist、fashion_mnist、cifar10）',
    'let torchvision download missing files': '允许 torchvision 下载缺少的文件',
    'CSV file (.csv or .csv.gz) or ImageFolder directory': 'CSV 文件（.csv 或 .csv.gz）或 ImageFolder 目录',
    'CSV field separator': 'CSV 字段分隔符',
    "the CSV's first row names the columns: true, false, or auto (a header when a cell of it is text over a number "
    "below; a numeric first row is data)": 'CSV 的第一行是否为列名：true、false 或 auto（第一行有文字而下面是数字时为表头；'
                                           '全是数字的第一行是数据）',
    'squared error below delta, absolute error above, for regression': '误差小于 delta 时取平方误差，大于时取绝对误差，用于回归',
    'CSV target column, by name or index (-1: the last)': 'CSV 目标列，按名称或序号（-1：最后一列）',
    'CSV feature columns by name or index (empty: all but the target)': 'CSV 特征列，按名称或序号（空：除目标外的所有列）',
    'CSV: classification, regression, or auto (integer target with <= 20 values: classes)':
        'CSV：classification、regression 或 auto（整数目标且取值 <= 20 个时为分类）',
    "tabular sets: scale features to mean 0, std 1 (training split's statistics)": '表格数据集：把特征缩放为均值 0、标准差 1（用训练集的统计量）',
    'digits: side to which the 8x8 images are resized (0 or 8: native size; at most 256)':
        'digits：8x8 图像缩放到的边长（0 或 8：原始大小；最大 256）',
    'synthetic: [channels, height, width], sides at most 1024': 'synthetic：[通道, 高, 宽]，边长最大 1024', 'synthetic: number of classes': 'synthetic：类别数',
    'synthetic: number of samples': 'synthetic：样本数',
    'train pipeline, applied in order (ToTensor implied at the end when it leaves integer images)':
        '训练数据变换，按顺序应用（留下整数图像时末尾隐含 ToTensor）',
    'validation pipeline (random transforms only with random_val)': '验证数据变换（随机变换需 random_val）',
    'allow random transforms in the validation pipeline': '允许验证数据变换中有随机变换',
    'fraction held out for validation, in (0, 1)': '留作验证的比例，在 (0, 1) 内',
    "validate on the dataset's own test split instead of val_split": '用数据集自带的测试集验证，而不是 val_split',
    'samples per batch': '每批的样本数', 'reshuffle the training set each epoch': '每轮重新打乱训练集',
    'DataLoader worker processes': 'DataLoader 的工作进程数',
    'page-locked memory for faster host-to-GPU copies': '锁页内存，加快主机到 GPU 的拷贝',
    'drop the last incomplete training batch': '丢弃最后一个不完整的训练批次',
    'seed of the split and of the batch order': '划分和批次顺序的随机种子',
    'fast in-memory path: auto (when valid), on, off': '快速内存路径：auto（可用时）、on、off',
    'torch.nn layer name (see nbtrain.catalog.LAYERS)': 'torch.nn 层名（见 nbtrain.catalog.LAYERS）',
    'layer name in an OrderedDict model (empty: numbered)': 'OrderedDict 模型中的层名（空：按序号）',
    "weight initialiser (see nbtrain.catalog.INITS); empty: the model's or torch's default":
        '权重初始化方法（见 nbtrain.catalog.INITS）；空：用模型的或 torch 的默认',
    'parameters of the layer': '层的参数', 'the layers of the nn.Sequential, in order': 'nn.Sequential 的各层，按顺序',
    "weight initialiser for every layer without its own (empty: torch's default)": '没有自己初始化方法的层所用的权重初始化（空：torch 默认）',
    "parameters of the initialiser, e.g. {'nonlinearity': 'relu'}": "初始化方法的参数，例如 {'nonlinearity': 'relu'}",
    'torch.optim name (see nbtrain.catalog.OPTIMIZERS)': 'torch.optim 名称（见 nbtrain.catalog.OPTIMIZERS）',
    'learning rate, > 0': '学习率，> 0',
    'param groups by layer-name pattern, each with its own lr / weight_decay': '按层名模式划分的参数组，各有自己的 lr / weight_decay',
    'other parameters of the optimizer': '优化器的其他参数',
    'torch.optim.lr_scheduler name (empty: constant LR)': 'torch.optim.lr_scheduler 名称（空：恒定学习率）',
    "step the scheduler per 'epoch' or per 'step' (auto: per step for OneCycleLR, CyclicLR)":
        "按 'epoch' 或按 'step' 调度（auto：OneCycleLR、CyclicLR 按步）",
    'linear warm-up length, in scheduler steps, chained before the scheduler (SequentialLR)':
        '线性预热的长度（调度步数），接在调度器之前（SequentialLR）',
    'LR factor at the first warm-up step, in (0, 1]': '第一个预热步的学习率系数，在 (0, 1] 内',
    'metric ReduceLROnPlateau watches': 'ReduceLROnPlateau 监控的指标',
    'stochastic weight averaging (torch.optim.swa_utils) from swa_start':
        '从 swa_start 起做随机权重平均（torch.optim.swa_utils）',
    'epoch from which SWA averages weights and SWALR sets the LR': 'SWA 开始平均权重、SWALR 开始设定学习率的轮',
    "SWALR's LR (0: the optimizer's LR)": 'SWALR 的学习率（0：优化器的学习率）',
    'epochs SWALR takes to anneal to swa_lr': 'SWALR 退火到 swa_lr 所用的轮数', 'parameters of the scheduler': '调度器的参数',
    'passes over the training set': '遍历训练集的次数',
    'loss name (see nbtrain.catalog.LOSSES)': '损失函数名（见 nbtrain.catalog.LOSSES）', 'parameters of the loss': '损失函数的参数',
    'metrics: accuracy, topk_accuracy, mae': '指标：accuracy、topk_accuracy、mae',
    'k of topk_accuracy': 'topk_accuracy 的 k',
    'auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps': 'auto（依次 cuda、mps、cpu）、cpu、cuda、cuda:1、mps',
    'mixed precision: off, bf16, fp16 (with GradScaler)': '混合精度：off、bf16、fp16（配合 GradScaler）',
    'clip the gradient norm to this value (0: off)': '把梯度范数裁剪到此值（0：关闭）',
    'seed of python, numpy and torch for the run': '本次训练中 python、numpy 和 torch 的随机种子',
    'read losses from the device and log every N steps': '每 N 步从设备读取损失并记录',
    'TensorBoard log directory (empty: no TensorBoard)': 'TensorBoard 日志目录（空：不用 TensorBoard）',
    'subfolder of logdir for this run (empty: a timestamp)': '本次训练在 logdir 下的子目录（空：时间戳）',
    'log weight and gradient histograms each epoch': '每轮记录权重和梯度直方图',
    'log feature-map and conv-kernel grids each epoch': '每轮记录特征图和卷积核网格',
    'where checkpoints go (empty: none)': '检查点保存位置（空：不保存）',
    'how many recent checkpoints to keep (the best is kept too)': '保留最近几个检查点（最佳的也会保留）',
    'metric for the best checkpoint and early stopping': '用于最佳检查点和早停的指标',
    'min or max: whether lower or higher monitor is better': 'min 或 max：监控指标越低还是越高越好',
    'patience in epochs (0: off)': '耐心轮数（0：关闭）',
    'smallest change of monitor that counts as improvement': '监控指标算作改善的最小变化',
    'early stopping restores the best weights': '早停时恢复最佳权重',
    "layer-name pattern (fnmatch, e.g. 'fc*' or '4'); parameters of matching layers":
        "层名模式（fnmatch，例如 'fc*' 或 '4'）；匹配层的参数",
    "learning rate of this group (null: the optimizer's)": '此组的学习率（null：用优化器的）',
    "weight decay of this group (null: the optimizer's)": '此组的权重衰减（null：用优化器的）',
    'torchvision.transforms.v2 name (see nbtrain.catalog.TRANSFORMS)':
        'torchvision.transforms.v2 名称（见 nbtrain.catalog.TRANSFORMS）',
    'parameters of the transform': '变换的参数',
    # issue 16 (teach): the binary losses, LBFGS, Residual and TorchvisionModel layers, data.task binary
    'binary classification from probabilities (after a Sigmoid): float 0/1 targets shaped like the output, e.g. (N, 1)':
        '由概率做二分类（在 Sigmoid 之后）：与输出同形状的 0/1 浮点目标，例如 (N, 1)',
    'binary outputs: the value above which a sample counts as class 1 (fit sets it from the loss: 0 for logits, 0.5 '
    'after a Sigmoid for BCELoss)': '二分类输出：高于此值的样本算作类别 1（fit 按损失函数设定：logits 为 0，BCELoss 在 Sigmoid 之后为 0.5）',
    'limited-memory BFGS (full-batch quasi-Newton; its step re-evaluates the loss through a closure, one param group '
    'only)': '有限内存 BFGS（全批量拟牛顿法；每一步通过 closure 重新计算损失，只支持一个参数组）',
    'iterations per optimizer step': '每个优化步的迭代次数',
    'function evaluations per step (null: max_iter * 1.25)': '每步的函数求值次数（null：max_iter * 1.25）',
    "stop when the gradient's largest entry is below this": '梯度的最大分量低于此值时停止',
    'stop when the loss or the step changes less than this': '损失或步长的变化小于此值时停止',
    'how many past updates approximate the curvature': '用多少次过去的更新来近似曲率',
    "line search ('strong_wolfe') or none (null: a fixed step of lr)": "线搜索（'strong_wolfe'）或不用（null：固定步长 lr）",
    "a residual block: its body's layers applied to the input, the input added back (ResNet)":
        '残差块：主体（body）的各层作用于输入，再把输入加回来（ResNet）',
    "the layers applied to the input, in order, written like the model's layers (shapes inferred: 'auto' works "
    "inside)": "依次作用于输入的各层，写法与模型的层相同（形状自动推断：内部也可用 'auto'）",
    "what is added to the body's output: auto (the input itself when the body keeps its shape, else a 1x1 Conv2d with "
    "the body's stride + BatchNorm2d for images, a Linear for features), identity, conv1x1, or conv3x3 (seed 004's "
    "downsample)": '加到主体输出上的是什么：auto（主体保持形状时就是输入本身，否则对图像用与主体同步长的 1x1 Conv2d + '
                   'BatchNorm2d，对特征用 Linear）、identity、conv1x1，或 conv3x3（种子 004 的 downsample）',
    "applied to the sum: none, or ReLU (as in ResNet's BasicBlock)": '作用于相加之和：none，或 ReLU（如 ResNet 的 BasicBlock）',
    'a whole torchvision.models architecture with random weights, for (3, H, W) images':
        '完整的 torchvision.models 网络结构，随机初始化权重，用于 (3, H, W) 图像',
    'the architecture (torchvision.models.get_model name)': '网络结构（torchvision.models.get_model 的名称）',
    'outputs of its last layer (the number of classes)': '最后一层的输出数（类别数）',
    "pretrained weights are not downloaded here: leave empty for random weights (torchvision names them, e.g. "
    "'IMAGENET1K_V1': load such a model yourself and pass fit(model=...))":
        "这里不下载预训练权重：留空即为随机权重（torchvision 为它们命名，例如 'IMAGENET1K_V1'：请自己加载这样的模型，"
        "再传给 fit(model=...)）",
    'CSV: classification, regression, or auto (integer target with <= 20 values: classes); binary (any set of 2 '
    'classes): float 0/1 targets of shape (N, 1), as BCEWithLogitsLoss and BCELoss take (chosen by itself when the '
    'loss is one of them)': 'CSV：classification、regression 或 auto（取值不超过 20 个的整数目标视为类别）；binary（任何两类的'
                            '数据集）：形状为 (N, 1) 的 0/1 浮点目标，即 BCEWithLogitsLoss 和 BCELoss 所需（损失函数是其中之一时自动选用）',
}
