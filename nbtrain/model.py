"""Build an nn.Sequential from a ModelSpec, infer shapes, summarise it, and write its PyTorch code."""
from __future__ import annotations

import math
from html import escape
from collections import OrderedDict
from dataclasses import dataclass, field
from keyword import iskeyword

import torch
from torch import nn
from torch.func import functional_call

from .catalog import INITS, to_torch
from .errors import ShapeError, SpecError
from .errors import fmt_shape as _fmt
from .modes import eval_mode
from .spec import LayerSpec, ModelSpec, TrainSpec

# parameters that may be 'auto': name -> (what it is, how to read it from the incoming shape)
_AUTO = {
    "in_features": ("input features", lambda s: s[-1]),
    "in_channels": ("input channels", lambda s: s[0]),
    "num_features": ("features", lambda s: s[0]),
    "normalized_shape": ("features in the last dimension", lambda s: s[-1]),
}
# layer type -> allowed ranks of the per-sample input shape, and what the shape means
_RANKS = {
    "Conv1d": ((2,), "(C, L)"), "Conv2d": ((3,), "(C, H, W)"), "MaxPool2d": ((3,), "(C, H, W)"),
    "AvgPool2d": ((3,), "(C, H, W)"), "AdaptiveAvgPool2d": ((3,), "(C, H, W)"), "BatchNorm1d": ((1, 2), "(C,) or (C, L)"),
    "BatchNorm2d": ((3,), "(C, H, W)"), "Dropout2d": ((3,), "(C, H, W)"),
}


def _where(i: int, layer: LayerSpec) -> str:
    return f"model.layers[{i}] ({layer.type}{' ' + repr(layer.name) if layer.name else ''})"


def resolve_params(layer: LayerSpec, shape: tuple, i: int) -> dict:
    """The layer's kwargs with every 'auto' filled from the incoming shape; checks the shape fits."""
    where = _where(i, layer)
    ranks, meaning = _RANKS.get(layer.type, (None, ""))
    if ranks and len(shape) not in ranks:
        hint = ("add Flatten before it" if len(shape) > max(ranks) else
                "it needs image-shaped input; for flat features use Linear" if layer.type.endswith("2d") else
                "reshape the input")
        raise ShapeError(f"needs input of shape {meaning}, got {_fmt(shape)}", where, hint)
    kw = layer.kwargs(f"model.layers[{i}]")
    for name, (what, read) in _AUTO.items():
        if name not in kw:
            continue
        have = read(shape) if shape else None
        if kw[name] == "auto":
            kw[name] = have
        elif have is not None and kw[name] != have:
            if name == "in_features" and len(shape) > 1:
                fix = f"add a Flatten before it; then in_features is {math.prod(shape)} (or set it to 'auto')"
                got = f"input of shape {_fmt(shape)}"
            else:
                fix = f"set {name} to {have} or 'auto'"
                got = str(have)
            raise ShapeError(f"expects {kw[name]} {what}, got {got}", where, fix)
    if layer.type == "LayerNorm" and isinstance(kw["normalized_shape"], int):
        kw["normalized_shape"] = (kw["normalized_shape"],)
    return kw


def _make(layer: LayerSpec, kw: dict, i: int) -> nn.Module:
    try:
        return layer.entry().build(**kw)
    except (ValueError, TypeError, RuntimeError) as e:
        raise SpecError(f"torch rejected the parameters: {e}", _where(i, layer), "check the layer's parameters") from None


def run_on_meta(module: nn.Module, x: torch.Tensor):
    """``module(x)`` in eval mode under no_grad, run on the meta device: shapes only, no arithmetic and no memory
    (``x`` and every parameter and buffer become meta tensors; the module itself is untouched). Every layer of
    the catalog runs there; a module with an op that has no meta kernel raises NotImplementedError."""
    state = {n: t.to("meta") for n, t in [*module.named_parameters(), *module.named_buffers()]}
    with eval_mode(module), torch.no_grad():
        return functional_call(module, state, (x.to("meta"),))


def _check_dims(module: nn.Module, ndim: int) -> None:
    """A ``dim`` out of range (Softmax, Flatten's start/end): real tensors raise IndexError, meta ones do not."""
    for name in ("dim", "start_dim", "end_dim"):
        d = getattr(module, name, None)
        if isinstance(d, int) and not -ndim <= d < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                             f"but got {d})")


def _forward_shape(module: nn.Module, shape: tuple, layer: LayerSpec, i: int) -> tuple:
    x = torch.zeros(2, *shape, device="meta")
    try:
        try:
            _check_dims(module, x.ndim)
            y = run_on_meta(module, x)
        except NotImplementedError:                  # an op without a meta kernel: real zeros
            with eval_mode(module), torch.no_grad():
                y = module(torch.zeros(2, *shape))
    except (RuntimeError, IndexError, ValueError) as e:   # IndexError: a dim out of range (Softmax, Flatten)
        msg = str(e).splitlines()[0]
        raise ShapeError(f"does not fit input of shape {_fmt(shape)}: {msg}", _where(i, layer),
                         "make the kernel/window smaller, add padding, or remove a pooling layer before it") from None
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise ShapeError(f"mixes the batch dimension into the sample: output {_fmt(tuple(y.shape))} for a batch "
                         f"{_fmt(tuple(x.shape))}", _where(i, layer), "keep dimension 0 for the batch, e.g. start_dim=1")
    out = tuple(y.shape[1:])
    if any(s <= 0 for s in out):
        raise ShapeError(f"output shape {_fmt(out)} is empty for input {_fmt(shape)}", _where(i, layer),
                         "make the kernel/window smaller or add padding")
    return out


def apply_init(module: nn.Module, init: str, params: dict, where: str) -> None:
    """Initialise the weight of a Linear/Conv layer in place with a torch.nn.init function."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return
    entry = INITS.get_entry(init, where)
    kw = entry.kwargs(params)
    try:
        with torch.no_grad():
            entry.build(weight, **kw)
    except (ValueError, RuntimeError) as e:
        raise SpecError(f"{init} cannot initialise a weight of shape {tuple(weight.shape)}: {e}", where,
                        "pick another init for this layer (eye and sparse need 2-D weights)") from None


@dataclass
class Built:
    model: nn.Sequential
    shapes: list = field(default_factory=list)    # output shape after each layer (no batch)
    kwargs: list = field(default_factory=list)    # resolved kwargs of each layer


def build(model_spec: ModelSpec, input_shape) -> Built:
    """Build the model and record each layer's resolved kwargs and output shape."""
    if isinstance(model_spec, TrainSpec):
        model_spec = model_spec.model
    if not model_spec.layers:
        raise SpecError("the model has no layers", "model.layers", "add layers, e.g. Flatten then Linear")
    shape = tuple(int(s) for s in input_shape)
    modules, shapes, kwargs = [], [], []
    for i, layer in enumerate(model_spec.layers):
        kw = resolve_params(layer, shape, i)
        m = _make(layer, kw, i)
        init = layer.init or model_spec.init
        if init and "weight" in layer.entry().tags:
            params = {} if layer.init else model_spec.init_params
            apply_init(m, init, params, f"model.layers[{i}].init" if layer.init else "model.init")
        shape = _forward_shape(m, shape, layer, i)
        modules.append(m)
        shapes.append(shape)
        kwargs.append(kw)
    names = [l.name for l in model_spec.layers]
    model = nn.Sequential(OrderedDict(zip(names, modules))) if all(names) else nn.Sequential(*modules)
    return Built(model, shapes, kwargs)


def build_model(model_spec: ModelSpec, input_shape) -> nn.Sequential:
    """An nn.Sequential (an OrderedDict one when the layers are named) for inputs of ``input_shape``."""
    return build(model_spec, input_shape).model


# -- summary -------------------------------------------------------------------------------------
@dataclass
class Summary:
    rows: list            # dicts: name, type, output_shape, params, trainable
    input_shape: tuple
    total_params: int
    trainable_params: int

    @property
    def output_shape(self) -> tuple:
        return self.rows[-1]["output_shape"] if self.rows else self.input_shape

    def __str__(self) -> str:
        head = ("Layer", "Type", "Output shape", "Params", "Trainable")
        body = [(r["name"], r["type"], _fmt(r["output_shape"]), f"{r['params']:,}", f"{r['trainable']:,}")
                for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        line = lambda cells: "  ".join(str(c).ljust(w) if j < 3 else str(c).rjust(w)
                                       for j, (c, w) in enumerate(zip(cells, widths)))
        sep = "-" * len(line(head))
        out = [f"Input shape: {_fmt(self.input_shape)}", line(head), sep, *map(line, body), sep,
               f"Total params: {self.total_params:,}   Trainable: {self.trainable_params:,}"]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{escape(r['name'])}</td><td>{escape(r['type'])}</td><td>{_fmt(r['output_shape'])}</td>"
            f"<td style='text-align:right'>{r['params']:,}</td><td style='text-align:right'>{r['trainable']:,}</td></tr>"
            for r in self.rows)
        return ("<table class='nbtrain-summary'><thead><tr><th>Layer</th><th>Type</th><th>Output shape</th>"
                f"<th>Params</th><th>Trainable</th></tr></thead><tbody>{cells}</tbody><tfoot><tr><td colspan='3'>"
                f"Total (input {_fmt(self.input_shape)})</td><td style='text-align:right'>{self.total_params:,}</td>"
                f"<td style='text-align:right'>{self.trainable_params:,}</td></tr></tfoot></table>")


def _count(module: nn.Module) -> tuple[int, int]:
    ps = list(module.parameters())
    return sum(p.numel() for p in ps), sum(p.numel() for p in ps if p.requires_grad)


def _module_shapes(model: nn.Module, input_shape: tuple) -> list:
    """Each child's output shape (no batch) for a batch of ``input_shape``: on the meta device, or, for a model
    that cannot run there (data-dependent code, an op without a meta kernel), on real zeros."""
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
             for m in model.children()]
    try:
        try:
            run_on_meta(model, torch.zeros(2, *input_shape, device="meta"))
        except Exception:  # noqa: BLE001 - a user's model may fail on meta in any way: run it for real
            shapes.clear()
            p = next(model.parameters(), None)
            with eval_mode(model), torch.no_grad():
                model(torch.zeros(2, *input_shape, device=p.device if p is not None else "cpu"))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def summary(spec_or_model, input_shape) -> Summary:
    """Per layer: name, type, output shape, parameter count and trainable count; and the totals."""
    input_shape = tuple(int(s) for s in input_shape)
    if isinstance(spec_or_model, (ModelSpec, TrainSpec)):
        built = build(spec_or_model, input_shape)
        model, shapes = built.model, built.shapes
    else:
        model = spec_or_model
        shapes = _module_shapes(model, input_shape)
    rows = []
    for (name, m), shape in zip(model.named_children(), shapes):
        n, t = _count(m)
        rows.append({"name": name, "type": type(m).__name__, "output_shape": shape, "params": n, "trainable": t})
    total, trainable = _count(model)
    return Summary(rows, input_shape, total, trainable)


# -- code ----------------------------------------------------------------------------------------
def _kwarg_code(layer: LayerSpec, kw: dict) -> str:
    entry = layer.entry()
    defaults = {k: to_torch(v) for k, v in entry.defaults().items()}
    parts = []
    for p in entry.params:
        v = kw.get(p.name)
        if p.name in defaults and defaults[p.name] == v and p.name not in _AUTO:
            continue
        parts.append(f"{p.name}={v!r}")
    return ", ".join(parts)


def _layer_code(layer: LayerSpec, kw: dict) -> str:
    return f"nn.{layer.type}({_kwarg_code(layer, kw)})"


def model_code(model_spec: ModelSpec, input_shape) -> str:
    """Runnable plain-PyTorch source that builds the same model as ``build_model`` (defines ``model``)."""
    if isinstance(model_spec, TrainSpec):
        model_spec = model_spec.model
    built = build(model_spec, input_shape)
    named = all(l.name for l in model_spec.layers)
    lines = ["import torch", "from torch import nn"]
    if named:
        lines.append("from collections import OrderedDict")
    lines += ["", "model = nn.Sequential(" + ("OrderedDict([" if named else "")]
    for layer, kw in zip(model_spec.layers, built.kwargs):
        code = _layer_code(layer, kw)
        lines.append(f"    ({layer.name!r}, {code})," if named else f"    {code},")
    lines.append("]))" if named else ")")
    init_lines = []
    for i, layer in enumerate(model_spec.layers):
        init = layer.init or model_spec.init
        if not init or "weight" not in layer.entry().tags:
            continue
        entry = INITS[init]
        kw = entry.kwargs({} if layer.init else model_spec.init_params)
        args = "".join(f", {k}={v!r}" for k, v in kw.items())
        ref = f"model.{layer.name}" if named and layer.name.isidentifier() and not iskeyword(layer.name) else f"model[{i}]"
        init_lines.append(f"nn.init.{entry.build.__name__}({ref}.weight{args})")
    if init_lines:
        lines += ["", "with torch.no_grad():"] + ["    " + l for l in init_lines]
    shape = ", ".join(str(s) for s in tuple(input_shape))
    lines += ["", f"x = torch.zeros(1, {shape})",
              f"print(model(x).shape)  # torch.Size([1, {', '.join(map(str, built.shapes[-1]))}])", ""]
    return "\n".join(lines)
