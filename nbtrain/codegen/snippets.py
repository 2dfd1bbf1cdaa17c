"""Source for one part of a spec: the transform pipelines, the optimizer with its param groups, the scheduler.

Each snippet is what a widget's "Show code" shows and a piece of ``to_code``'s script; exec'd, it builds what
nbtrain builds (tested). Values arrive through ``literals``; the scheduler's resolved arguments ('auto' T_max,
total_steps, the checked LR factors) come from ``nbtrain.build.optim.scheduler_kwargs``, the builder's own code.
"""
from __future__ import annotations

import torch

from ..build.optim import scheduler_kwargs
from ..errors import SpecError
from ..spec.catalog import OPTIMIZERS, SCHEDULERS, TRANSFORMS
from ..spec.expr import texts
from .literals import kwargs_code, name, py


# -- transforms -------------------------------------------------------------------------------
def transforms_snippet(data_spec) -> str:
    """The train and val pipelines as torchvision.transforms.v2 code."""
    return ("import torch\nfrom torchvision.transforms import InterpolationMode, v2\n\n"
            + pipeline_code("train_transform", data_spec.train_transforms, "data.train_transforms")
            + pipeline_code("val_transform", data_spec.val_transforms, "data.val_transforms"))


def _transform_line(t, where: str) -> str:
    """One transform spec as a torchvision.transforms.v2 call (its explicit parameters only)."""
    cls = name(TRANSFORMS, t.type, f"{where}.type")
    t.kwargs(where)   # checks the params (types, ranges, choices)
    args = []
    for k, v in t.params.items():
        if k == "interpolation":
            args.append(f"{k}=InterpolationMode({py(v)})")
        elif k == "dtype" and isinstance(getattr(torch, str(v), None), torch.dtype):
            args.append(f"{k}=torch.{v}")
        else:
            args.append(kwargs_code({k: v}, where))
    if cls == "ToTensor":
        return "v2.ToImage(), v2.ToDtype(torch.float32, scale=True)"
    return f"v2.{cls}({', '.join(args)})"


def pipeline_code(var: str, transforms, where: str) -> str:
    if not transforms:
        return f"{var} = v2.Identity()\n"
    body = "".join(f"    {_transform_line(t, f'{where}[{i}]')},\n" for i, t in enumerate(transforms))
    return f"{var} = v2.Compose([\n{body}])\n"


# -- optimizer --------------------------------------------------------------------------------
_LAYER_PARAMS = ["def layer_params(model, pattern, taken):",
                 '    """Parameters of the layers whose name matches pattern, not yet in an earlier group."""',
                 "    out = [p for name, layer in model.named_children() if fnmatch.fnmatchcase(name, pattern)",
                 "           for p in layer.parameters() if id(p) not in taken]",
                 "    taken.update(id(p) for p in out)",
                 "    return out", "", "taken = set()"]


def optimizer_code(optim_spec, model: str = "model") -> str:
    """Source that builds ``optimizer`` for ``model`` (param groups by layer-name pattern)."""
    o = optim_spec
    o.kwargs("optim")   # checks the params; the code shows only those the spec sets
    kw = kwargs_code({"lr": float(o.lr), **o.params}, "optim")
    cls = "torch.optim." + name(OPTIMIZERS, o.type, "optim.type")
    if not model.isidentifier():
        raise SpecError(f"{model!r} is not a variable name", "optimizer_code", "pass a Python identifier")
    if not o.groups:
        return f"import torch\n\noptimizer = {cls}({model}.parameters(), {kw})\n"
    lines = ["import fnmatch", "import torch", ""] + _LAYER_PARAMS
    entries = []
    for i, g in enumerate(o.groups, 1):
        lines.append(f"group_{i} = layer_params({model}, {py(g.pattern)}, taken)")
        extra = {k: v for k, v in (("lr", g.lr), ("weight_decay", g.weight_decay)) if v is not None}
        entries.append("{" + ", ".join([f'"params": group_{i}'] + [f'"{k}": {py(v)}' for k, v in extra.items()]) + "}")
    lines.append(f"rest = [p for p in {model}.parameters() if id(p) not in taken]")
    lines.append(f"optimizer = {cls}([")
    lines.append('    {"params": rest},')
    lines += [f"    {e}," for e in entries]
    lines.append(f"], {kw})")
    return "\n".join(lines) + "\n"


# -- scheduler --------------------------------------------------------------------------------
def _lambda_code(exprs) -> tuple[list[str], str]:
    """The checked factors as plain functions (their canonical code, never the spec's text) and the
    lr_lambda argument: one function for every group, or a list of one per group."""
    distinct = list(dict.fromkeys(exprs))
    names = ["lr_factor"] if len(distinct) == 1 else [f"lr_factor_{i}" for i in range(len(distinct))]
    lines = []
    for fn, e in zip(names, distinct):
        lines += [f"def {fn}(epoch):", "    epoch = float(epoch)  # as nbtrain evaluates it: in floats",
                  f"    return float({e.code})", ""]
    arg = names[0] if len(names) == 1 else "[" + ", ".join(names[distinct.index(e)] for e in exprs) + "]"
    return lines, arg


def scheduler_code(sched_spec, epochs: int, steps_per_epoch: int, groups: int | None = None) -> str:
    """Source that builds ``scheduler`` for ``optimizer`` as nbtrain's Schedule does, and says when to step it.

    ``groups``: the optimizer's param groups (default: as many as the spec's per-group expressions)."""
    s = sched_spec
    lines = ["import torch", "from torch.optim import lr_scheduler"]
    if not s.type and not s.warmup:
        return "scheduler = None  # constant learning rate\n"
    n = int(epochs) * int(steps_per_epoch) if s.per_step else int(epochs)
    w = int(s.warmup)
    main = None
    if s.type:
        cls = name(SCHEDULERS, s.type, "sched.type")
        if groups is None:
            groups = len(texts(s.params, "sched")) if cls in ("LambdaLR", "MultiplicativeLR") else 1
        kw = scheduler_kwargs(s, max(n - w, 1), groups)
        if "lr_lambda" in kw:
            code, arg = _lambda_code(kw["lr_lambda"])
            lines += ["from math import exp, log, sqrt, cos, sin, pi, e", ""] + code
            args = f"optimizer, lr_lambda={arg}"
        else:   # the parameters the spec sets, and those resolved for this run
            kw = {k: kw[k] for k in [*s.params, *(k for k in ("T_max", "total_steps") if k in kw)]}
            args = ", ".join(["optimizer"] + ([kwargs_code(kw, "sched")] if kw else []))
        main = f"lr_scheduler.{cls}({args})"
    warm = (f"lr_scheduler.LinearLR(optimizer, start_factor={py(float(s.warmup_start_factor))}, end_factor=1.0, "
            f"total_iters={w})") if w else None
    if warm and main:
        lines.append(f"scheduler = lr_scheduler.SequentialLR(optimizer, [{warm}, {main}], milestones=[{w}])")
    else:
        lines.append(f"scheduler = {warm or main}")
    if s.type == "ReduceLROnPlateau":
        lines.append(f"# call scheduler.step(logs[{py(s.monitor)}]) after every epoch")
    else:
        lines.append(f"# call scheduler.step() after every {'batch' if s.per_step else 'epoch'}")
    if s.swa:
        swa_lr = py(float(s.swa_lr)) if s.swa_lr else "the optimizer lr"
        lines.append(f"# SWA from epoch {int(s.swa_start)}: torch.optim.swa_utils.AveragedModel(model) and "
                     f"SWALR(optimizer, swa_lr={swa_lr}, anneal_epochs={int(s.swa_anneal_epochs)})")
    return "\n".join(lines) + "\n"
