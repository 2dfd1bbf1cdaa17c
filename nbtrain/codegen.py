"""Plain-PyTorch source for the parts of a spec: transforms, optimizer, scheduler, and ``to_code``
for one runnable script that reproduces a whole run. The GUI teaches the code."""
from __future__ import annotations


def py(v) -> str:
    """Python source for a JSON value in the form torch takes (lists become tuples)."""
    if isinstance(v, list):
        inner = ", ".join(py(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def kwargs_code(params: dict) -> str:
    return ", ".join(f"{k}={py(v)}" for k, v in params.items())


# -- transforms -------------------------------------------------------------------------------
def transforms_snippet(data_spec) -> str:
    """The train and val pipelines as torchvision.transforms.v2 code."""
    return ("import torch\nfrom torchvision.transforms import InterpolationMode, v2\n\n"
            + _pipeline("train_transform", data_spec.train_transforms)
            + _pipeline("val_transform", data_spec.val_transforms))


# -- optimizer --------------------------------------------------------------------------------
def optimizer_code(optim_spec, model: str = "model") -> str:
    """Source that builds ``optimizer`` for ``model`` (param groups by layer-name pattern)."""
    o = optim_spec
    kw = kwargs_code({"lr": o.lr, **o.params})
    cls = f"torch.optim.{o.type}"
    if not o.groups:
        return f"import torch\n\noptimizer = {cls}({model}.parameters(), {kw})\n"
    lines = ["import fnmatch", "import torch", "",
             "def layer_params(model, pattern, taken):",
             '    """Parameters of the layers whose name matches pattern, not yet in an earlier group."""',
             "    out = [p for name, layer in model.named_children() if fnmatch.fnmatchcase(name, pattern)",
             "           for p in layer.parameters() if id(p) not in taken]",
             "    taken.update(id(p) for p in out)",
             "    return out", "", "taken = set()"]
    entries = []
    for i, g in enumerate(o.groups, 1):
        lines.append(f"group_{i} = layer_params({model}, {g.pattern!r}, taken)")
        extra = {k: v for k, v in (("lr", g.lr), ("weight_decay", g.weight_decay)) if v is not None}
        entries.append("{" + ", ".join([f'"params": group_{i}'] + [f'"{k}": {v!r}' for k, v in extra.items()]) + "}")
    lines.append(f"rest = [p for p in {model}.parameters() if id(p) not in taken]")
    lines.append(f"optimizer = {cls}([")
    lines.append('    {"params": rest},')
    lines += [f"    {e}," for e in entries]
    lines.append(f"], {kw})")
    return "\n".join(lines) + "\n"


# -- scheduler --------------------------------------------------------------------------------
def _lambda_code(params: dict) -> list[str]:
    from .expr import PRESETS
    expr = params.get("expr", "") or PRESETS.get(params.get("preset", "none"), "1.0")
    return ["def lr_factor(epoch):", f"    return float({expr})", ""]


def scheduler_code(sched_spec, epochs: int, steps_per_epoch: int) -> str:
    """Source that builds ``scheduler`` for ``optimizer`` as nbtrain's Schedule does, and says when to step it."""
    s = sched_spec
    lines = ["import torch", "from torch.optim import lr_scheduler"]
    if not s.type and not s.warmup:
        return "scheduler = None  # constant learning rate\n"
    n = epochs * steps_per_epoch if s.per_step else epochs
    w = s.warmup
    main = None
    if s.type:
        kw = dict(s.params)
        if s.type in ("LambdaLR", "MultiplicativeLR"):
            lines += ["from math import exp, log, sqrt, cos, sin, pi, e", ""] + _lambda_code(s.params)
            kw = {}
            args = "optimizer, lr_lambda=lr_factor"
        else:
            if s.type == "CosineAnnealingLR" and kw.get("T_max", "auto") == "auto":
                kw["T_max"] = max(n - w, 1)
            if s.type == "OneCycleLR" and kw.get("total_steps") is None:
                kw["total_steps"] = max(n - w, 1)
            args = ", ".join(["optimizer"] + ([kwargs_code(kw)] if kw else []))
        main = f"lr_scheduler.{s.type}({args})"
    warm = (f"lr_scheduler.LinearLR(optimizer, start_factor={s.warmup_start_factor!r}, end_factor=1.0, "
            f"total_iters={w})") if w else None
    if warm and main:
        lines.append(f"scheduler = lr_scheduler.SequentialLR(optimizer, [{warm}, {main}], milestones=[{w}])")
    else:
        lines.append(f"scheduler = {warm or main}")
    if s.type == "ReduceLROnPlateau":
        lines.append(f"# call scheduler.step({s.monitor}) after every epoch")
    else:
        lines.append(f"# call scheduler.step() after every {'batch' if s.per_step else 'epoch'}")
    if s.swa:
        lines.append(f"# SWA from epoch {s.swa_start}: torch.optim.swa_utils.AveragedModel(model) and "
                     f"SWALR(optimizer, swa_lr={s.swa_lr or 'the optimizer lr'}, anneal_epochs={s.swa_anneal_epochs})")
    return "\n".join(lines) + "\n"


# -- the whole run ----------------------------------------------------------------------------
_LOADERS = {
    "digits": '''def load_samples():
    """scikit-learn's 8x8 digits as uint8 images (N, 1, H, W), resized like nbtrain does."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.from_numpy(d.images).float().mul(255.0 / 16.0).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    if {size} and {size} != 8:
        x = F.resize(x, [{size}, {size}], antialias=True)
    return x, torch.as_tensor(d.target, dtype=torch.int64), None, True
''',
    "tabular": '''def load_samples():
    """scikit-learn's {name} set: float features (N, F) and integer classes."""
    import sklearn.datasets
    d = sklearn.datasets.load_{name}()
    return (torch.as_tensor(d.data, dtype=torch.float32), torch.as_tensor(d.target, dtype=torch.int64), None,
            False)
''',
    "synthetic": '''def load_samples():
    """torchvision FakeData: random images of shape {shape}, {classes} classes; test split offset by size."""
    from torchvision.datasets import FakeData

    def load(size, offset):
        fd = FakeData(size, image_size={shape}, num_classes={classes}, transform=v2.PILToTensor(),
                      random_offset=offset)
        xs, ys = zip(*(fd[i] for i in range(size)))
        return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)

    x, y = load({size}, 0)
    return (x, y, load(max(1, {size} // 5), {size}), True)
''',
    "torchvision": '''def load_samples():
    """torchvision {cls} from {root!r} (uint8 images as (N, C, H, W))."""
    import torchvision.datasets

    def nchw(data):
        x = torch.as_tensor(data)
        return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)

    tr = torchvision.datasets.{cls}({root!r}, train=True, download={download})
    te = torchvision.datasets.{cls}({root!r}, train=False, download=False)
    test = (nchw(te.data), torch.as_tensor(te.targets, dtype=torch.int64))
    return nchw(tr.data), torch.as_tensor(tr.targets, dtype=torch.int64), test, True
''',
}
_TV_SETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def _data_code(d) -> str:
    from .errors import NbtrainError
    if d.dataset == "digits":
        return _LOADERS["digits"].format(size=d.image_size)
    if d.dataset in ("iris", "wine", "breast_cancer"):
        return _LOADERS["tabular"].format(name=d.dataset)
    if d.dataset == "synthetic":
        return _LOADERS["synthetic"].format(shape=tuple(d.image_shape), classes=d.num_classes, size=d.size)
    if d.dataset in _TV_SETS:
        return _LOADERS["torchvision"].format(cls=_TV_SETS[d.dataset], root=d.root, download=d.download)
    raise NbtrainError(f"exporting the {d.dataset!r} dataset as plain PyTorch is not supported", "to_code",
                       "use digits, iris, wine, breast_cancer, synthetic, mnist, fashion_mnist or cifar10")


def _transform_line(t) -> str:
    """One transform spec as a torchvision.transforms.v2 call (its explicit parameters only)."""
    args = []
    for k, v in t.params.items():
        if k == "interpolation":
            args.append(f"{k}=InterpolationMode({v!r})")
        elif k == "dtype":
            args.append(f"{k}=torch.{v}")
        else:
            args.append(f"{k}={py(v)}")
    if t.type == "ToTensor":
        return "v2.ToImage(), v2.ToDtype(torch.float32, scale=True)"
    return f"v2.{t.type}({', '.join(args)})"


def _pipeline(name: str, transforms) -> str:
    if not transforms:
        return f"{name} = v2.Identity()\n"
    body = "".join(f"    {_transform_line(t)},\n" for t in transforms)
    return f"{name} = v2.Compose([\n{body}])\n"


_SPLIT = '''
class Split(Dataset):
    """base[indices[i]] with a transform applied to x; integer images end as floats in [0, 1]."""

    def __init__(self, x, y, indices, transform, image):
        self.x, self.y, self.indices, self.transform, self.image = x, y, indices, transform, image

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        j = int(self.indices[i])
        x = tv_tensors.Image(self.x[j]) if self.image else self.x[j]
        x = self.transform(x)
        if self.image and not x.is_floating_point():
            x = v2.functional.to_dtype(x, torch.float32, scale=True)
        return x.as_subclass(torch.Tensor), self.y[j]


x_all, y_all, test, image = load_samples()
if {use_test}:
    train_idx, val_idx = torch.arange(len(x_all)), torch.arange(len(test[0]))
    val_x, val_y = test
else:
    split = random_split(range(len(x_all)), [1 - {val_split!r}, {val_split!r}],
                         generator=torch.Generator().manual_seed(DATA_SEED))
    train_idx, val_idx = torch.as_tensor(split[0].indices), torch.as_tensor(split[1].indices)
    val_x, val_y = x_all, y_all
if not image and {standardize}:  # tabular: mean 0, std 1 with the training split's statistics
    mean, std = x_all[train_idx].mean(0), x_all[train_idx].std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x_all = (x_all - mean) / std
    val_x = x_all if not {use_test} else (val_x - mean) / std
train_set = Split(x_all, y_all, train_idx, train_transform, image)
val_set = Split(val_x, val_y, val_idx, val_transform, image)
train_generator = torch.Generator().manual_seed(DATA_SEED)  # decides the batch order
train_sampler = RandomSampler(train_set, generator=train_generator) if {shuffle} else SequentialSampler(train_set)
train_loader = DataLoader(train_set, batch_size={batch}, sampler=train_sampler, drop_last={drop_last},
                          generator=train_generator, num_workers={workers}, pin_memory={pin})
# its own generator: iterating a loader without one draws a seed from the global RNG (shifting dropout)
val_loader = DataLoader(val_set, batch_size={batch}, shuffle=False, num_workers={workers}, pin_memory={pin},
                        generator=torch.Generator().manual_seed(DATA_SEED + 1))
'''

_LOOP = '''
def batch_metrics(out, y):
    """Per-batch sums of the metrics (divided by the sample count at the end of the epoch)."""
    sums = {{}}
{metric_lines}    return sums


def evaluate(net, loader):
    was = net.training
    net.eval()
    totals, n = {{"loss": 0.0}}, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with autocast():
                out = net(x)
                loss = loss_fn(out, y)
            totals["loss"] += float(loss) * len(y)
            for k, v in batch_metrics(out.float(), y).items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += len(y)
    net.train(was)
    return {{f"val_{{k}}": v / n for k, v in totals.items()}}


def autocast():
    if AMP == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if AMP == "bf16" else torch.float16)


writer = SummaryWriter(LOGDIR) if LOGDIR else None
scaler = torch.amp.GradScaler(device.type) if AMP == "fp16" else None
swa_model = AveragedModel(model) if SWA else None
swa_scheduler = None
best, bad_epochs, best_state = None, 0, None
step = 0
for epoch in range(EPOCHS):
    model.train()
    totals, n = {{"loss": torch.zeros((), dtype=torch.float64, device=device)}}, 0
    window_loss, window_n = 0.0, 0
    for x, y in train_loader:
        model.train()
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            out = model(x)
            loss = loss_fn(out, y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if GRAD_CLIP > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None and PER_STEP and swa_scheduler is None:
            scheduler.step()
        totals["loss"] += loss.detach().double() * len(y)
        for k, v in batch_metrics(out.detach().float(), y).items():
            totals[k] = totals.get(k, 0.0) + v
        n += len(y)
        step += 1
        if writer is not None and step % LOG_EVERY == 0:
            now = float(totals["loss"])
            writer.add_scalar("train/loss", (now - window_loss) / (n - window_n), step)
            window_loss, window_n = now, n
            for i, g in enumerate(optimizer.param_groups):
                writer.add_scalar(f"lr/group_{{i}}", g["lr"], step)
    logs = {{k: float(v) / n for k, v in totals.items()}}
    logs.update(evaluate(model, val_loader))
    for i, g in enumerate(optimizer.param_groups):
        logs["lr" if i == 0 else f"lr_{{i}}"] = g["lr"]
    if SWA and epoch >= SWA_START:  # SWA: SWALR sets the LR and the weights are averaged from here on
        if swa_scheduler is None:
            swa_lr = SWA_LR or [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
            swa_scheduler = SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=SWA_ANNEAL_EPOCHS)
        swa_scheduler.step()
        swa_model.update_parameters(model)
    elif scheduler is not None and not PER_STEP:
        if PLATEAU:
            scheduler.step(logs[MONITOR])
        else:
            scheduler.step()
    print(f"epoch {{epoch + 1}}/{{EPOCHS}}: " + ", ".join(f"{{k}} {{v:.6f}}" for k, v in logs.items()), flush=True)
    if writer is not None:
        for k, v in logs.items():
            writer.add_scalar(f"epoch/{{k}}", v, epoch + 1)
        if HISTOGRAMS:
            for name, p in model.named_parameters():
                writer.add_histogram(f"weights/{{name}}", p.detach().float().cpu(), epoch + 1)
    if PATIENCE:  # early stopping on MONITOR
        value = logs[MONITOR]
        if best is None or (value < best - MIN_DELTA if MODE == "min" else value > best + MIN_DELTA):
            best, bad_epochs = value, 0
            best_state = {{k: v.detach().clone() for k, v in model.state_dict().items()}}
        else:
            bad_epochs += 1
            if bad_epochs >= PATIENCE:
                print(f"early stopping: no improvement of {{MONITOR}} for {{PATIENCE}} epochs")
                if RESTORE_BEST and best_state is not None:
                    model.load_state_dict(best_state)
                break

if swa_model is not None and swa_scheduler is not None:
    update_bn(train_loader, swa_model, device=device)  # BatchNorm statistics for the averaged weights
    model.load_state_dict(swa_model.module.state_dict())
    print("swa: " + ", ".join(f"{{k}} {{v:.6f}}" for k, v in evaluate(model, val_loader).items()))
if writer is not None:
    writer.close()
'''


def _metric_lines(loop, task_classification: bool) -> str:
    out = []
    for m in loop.metrics:
        if m == "accuracy":
            out.append('    sums["accuracy"] = (out.argmax(1) == y).sum()\n')
        elif m == "topk_accuracy":
            k = loop.topk
            out.append(f'    sums["top{k}_accuracy"] = (out.topk(min({k}, out.shape[1]), 1).indices == y[:, None])'
                       '.any(1).sum()\n')
        elif m == "mae":
            out.append('    err = (out - y.reshape(out.shape).float()).abs()\n'
                       '    sums["mae"] = err.reshape(len(err), -1).mean(1).sum()\n')
    return "".join(out)


def _strip_shape_check(code: str) -> str:
    keep = [l for l in code.splitlines() if not (l.startswith("x = torch.zeros(1") or l.startswith("print(model(x)"))]
    return "\n".join(l for l in keep if not l.startswith(("import ", "from "))).strip() + "\n"


def _body(code: str) -> str:
    return "\n".join(l for l in code.splitlines() if not l.startswith(("import ", "from "))).strip() + "\n"


def to_code(train_spec, input_shape=None, steps_per_epoch=None) -> str:
    """One runnable plain-PyTorch script for ``train_spec``: data, transforms, model, optimizer, scheduler,
    the train/eval loop and the TensorBoard writes. ``input_shape`` and ``steps_per_epoch`` are read from
    the data when not given.

    With deterministic pipelines the script reproduces ``fit(train_spec)`` to float rounding (same split, batch
    order, initial weights, dropout draws, LR schedule and SWA; tested to 1e-5 relative). Random augmentations
    draw differently (the script per sample, nbtrain's in-memory path per batch from the data generator), so
    those runs agree in distribution only. Datasets: the built-in and torchvision sets; not csv or image_folder.
    Not in the script: checkpoints, the NaN guard, feature-map images, multi-GPU."""
    from .model import model_code
    s = train_spec
    d, loop, sc = s.data, s.loop, s.sched
    if input_shape is None or steps_per_epoch is None:
        from .data import build_data
        b = build_data(d)
        input_shape, steps_per_epoch = tuple(b.input_shape), len(b.train)
    logdir = ""
    if loop.logdir:
        logdir = f"{loop.logdir}/{loop.run_name or 'script'}"
    device = ('torch.device("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() '
              'else "cpu")') if loop.device == "auto" else f"torch.device({loop.device!r})"
    loss_kw = kwargs_code(loop.loss_params)
    header = f'''"""Generated by nbtrain.to_code: plain PyTorch, no nbtrain needed.

Dataset {d.dataset}, {len(s.model.layers)} layers, {s.optim.type} (lr {s.optim.lr:g}), scheduler {sc.type or "none"},
{loop.epochs} epochs. Run it with `python this_file.py`; TensorBoard logs go to {logdir or "nowhere (logdir empty)"}.
"""
import contextlib
import fnmatch
import random
from collections import OrderedDict
from math import exp, log, sqrt, cos, sin, pi, e

import numpy as np
import torch
from torch import nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel, SWALR, update_bn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, random_split
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # the tensorboard package is not installed: tensorboardX writes the same files
    from tensorboardX import SummaryWriter

SEED, DATA_SEED = {loop.seed}, {d.seed}
EPOCHS, LOG_EVERY, GRAD_CLIP, AMP = {loop.epochs}, {loop.log_every}, {loop.grad_clip!r}, {loop.amp!r}
LOGDIR, HISTOGRAMS = {logdir!r}, {loop.histograms}
PER_STEP, PLATEAU, MONITOR = {sc.per_step}, {sc.type == "ReduceLROnPlateau"}, {(sc.monitor if sc.type == "ReduceLROnPlateau" else loop.monitor)!r}
SWA, SWA_START, SWA_LR, SWA_ANNEAL_EPOCHS = {sc.swa}, {sc.swa_start}, {sc.swa_lr!r}, {sc.swa_anneal_epochs}
PATIENCE, MIN_DELTA, MODE, RESTORE_BEST = {loop.early_stopping}, {loop.min_delta!r}, {loop.mode!r}, {loop.restore_best}
device = {device}

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
'''
    parts = [header, "\n# -- data " + "-" * 90 + "\n", _data_code(d), "\n",
             _pipeline("train_transform", d.train_transforms), _pipeline("val_transform", d.val_transforms),
             _SPLIT.format(use_test=d.use_test_split, val_split=d.val_split, standardize=getattr(d, "standardize", True),
                           shuffle=d.shuffle, batch=d.batch_size, drop_last=d.drop_last, workers=d.num_workers,
                           pin=d.pin_memory),
             "\n# -- model " + "-" * 89 + "\n", _strip_shape_check(model_code(s.model, input_shape)),
             "model = model.to(device)\n",
             f"loss_fn = nn.{loop.loss}({loss_kw})\n",
             "\n# -- optimizer and scheduler " + "-" * 72 + "\n", _body(optimizer_code(s.optim)),
             _body(scheduler_code(sc, loop.epochs, steps_per_epoch)),
             "\n# -- training " + "-" * 86 + "\n",
             _LOOP.format(metric_lines=_metric_lines(loop, True))]
    return "".join(parts)
