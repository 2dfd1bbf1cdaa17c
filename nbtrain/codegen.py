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
def transform_call(t) -> str:
    """One transform spec as a torchvision.transforms.v2 call."""
    if t.type == "ToTensor":
        return "v2.ToImage(), v2.ToDtype(torch.float32, scale=True)"
    build = t.entry().build
    mod = getattr(build, "__module__", "") or ""
    name = build.__name__ if mod.startswith("torchvision") else t.type
    return f"v2.{name}({kwargs_code(t.params)})"


def transforms_code(transforms, name: str = "transform") -> str:
    calls = [transform_call(t) for t in transforms]
    body = "".join(f"    {c},\n" for c in calls)
    return f"{name} = v2.Compose([\n{body}])\n" if calls else f"{name} = v2.Compose([])\n"


def transforms_snippet(data_spec) -> str:
    return ("import torch\nfrom torchvision.transforms import v2\n\n"
            + transforms_code(data_spec.train_transforms, "train_transform")
            + transforms_code(data_spec.val_transforms, "val_transform"))


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
             "    out = [p for name, layer in model.named_children() if fnmatch.fnmatch(name, pattern)",
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
