"""Build an nn.Sequential from a ModelSpec, infer shapes, summarise it, and write its PyTorch code.

A Residual layer (nbtrain.spec.catalog.blocks) holds layers of its own, built here the same way (shapes inferred, 'auto'
inside, the model's init applied); its shortcut follows one rule (``shortcut``): ``auto`` adds the input itself
when the body keeps the shape, else a projection: for images a Conv2d with kernel 1 and the body's stride (the
input's height over the output's, rounded up) and BatchNorm2d, for flat features a Linear without bias;
``conv3x3`` is seed 004's downsample (kernel 3, padding 1); ``identity`` refuses a body that changes the shape."""
from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape
from keyword import iskeyword

import torch
from torch import nn

from ..errors import ShapeError, SpecError
from ..errors import fmt_shape as _fmt
from ..spec.catalog import INITS, to_torch
from ..spec.catalog.blocks import Residual
from ..spec.trainspec import LayerSpec, ModelSpec, TrainSpec
from .modes import eval_mode
from .shapes import _AUTO, forward_shape, resolve_params, run_on_meta, where_of


def _make(layer: LayerSpec, kw: dict, at: str) -> nn.Module:
    where = where_of(at, layer)
    if "model" in layer.entry().tags and kw.get("weights"):
        raise SpecError(f"weights {kw['weights']!r} are not downloaded here: {kw['arch']} is built with random "
                        "weights (weights=None)", where, "leave weights empty; for pretrained weights build it "
                        "yourself (torchvision.models.get_model(arch, weights=...)) and pass fit(model=...)")
    kw = {k: v for k, v in kw.items() if k != "weights"} if "model" in layer.entry().tags else kw
    try:
        return layer.entry().build(**kw)
    except (ValueError, TypeError, RuntimeError) as e:
        raise SpecError(f"torch rejected the parameters: {e}", where, "check the layer's parameters") from None


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
    kwargs: list = field(default_factory=list)    # resolved kwargs of each layer (a Residual's: see _residual)


def build(model_spec: ModelSpec, input_shape) -> Built:
    """Build the model and record each layer's resolved kwargs and output shape."""
    if isinstance(model_spec, TrainSpec):
        model_spec = model_spec.model
    if not model_spec.layers:
        raise SpecError("the model has no layers", "model.layers", "add layers, e.g. Flatten then Linear")
    return _build_layers(model_spec.layers, tuple(int(s) for s in input_shape), model_spec, "model.layers")


def _build_layers(layers: list, shape: tuple, model_spec: ModelSpec, prefix: str) -> Built:
    modules, shapes, kwargs = [], [], []
    for i, layer in enumerate(layers):
        at = f"{prefix}[{i}]"
        if "block" in layer.entry().tags:
            m, kw = _residual(layer, shape, model_spec, at)
        else:
            kw = resolve_params(layer, shape, at)
            m = _make(layer, kw, at)
            init = layer.init or model_spec.init
            if init and "weight" in layer.entry().tags:
                apply_init(m, init, {} if layer.init else model_spec.init_params,
                           f"{at}.init" if layer.init else "model.init")
        shape = forward_shape(m, shape, layer, at)
        modules.append(m)
        shapes.append(shape)
        kwargs.append(kw)
    names = [l.name for l in layers]
    model = nn.Sequential(OrderedDict(zip(names, modules))) if names and all(names) else nn.Sequential(*modules)
    return Built(model, shapes, kwargs)


def _residual(layer: LayerSpec, shape: tuple, model_spec: ModelSpec, at: str) -> tuple[nn.Module, dict]:
    """A Residual module and its resolved kwargs: the body's LayerSpecs and Built, the shortcut as
    (kind, in, out, kernel, stride) or None (the identity), the activation's name."""
    kw = layer.kwargs(at)
    specs = [LayerSpec.from_dict(d, f"{at}.body[{j}]") for j, d in enumerate(kw["body"])]
    ModelSpec(layers=specs).validate(f"{at}.body")
    body = _build_layers(specs, shape, model_spec, f"{at}.body")
    out = body.shapes[-1] if body.shapes else shape
    short = _shortcut(kw["shortcut"], shape, out, where_of(at, layer))
    m = Residual(body.model, _shortcut_module(short), nn.ReLU() if kw["activation"] == "ReLU" else None)
    return m, {"body_specs": specs, "body": body, "shortcut": short, "activation": kw["activation"]}


def _shortcut(how: str, inp: tuple, out: tuple, where: str):
    if how == "identity" or (how == "auto" and inp == out):
        if inp != out:
            raise ShapeError(f"the body turns {_fmt(inp)} into {_fmt(out)}: the input cannot be added as it is",
                             where, "set shortcut to 'auto' (a projection), or make the body keep the shape")
        return None
    if len(inp) == 1 and len(out) == 1 and how == "auto":
        return ("linear", inp[0], out[0], 0, 1)
    if len(inp) != 3 or len(out) != 3:
        raise ShapeError(f"a {how} shortcut needs (C, H, W) in and out, the body turns {_fmt(inp)} into "
                         f"{_fmt(out)}", where, "use shortcut 'auto' (a Linear for features) or 'identity'")
    stride = -(-inp[1] // out[1])
    if -(-inp[2] // stride) != out[2] or -(-inp[1] // stride) != out[1]:
        raise ShapeError(f"no strided convolution turns {_fmt(inp)} into the body's {_fmt(out)}", where,
                         "make the body keep the height and width, or divide both by its stride")
    return ("conv", inp[0], out[0], 3 if how == "conv3x3" else 1, stride)


def _shortcut_module(short):
    if short is None:
        return None
    kind, cin, cout, k, stride = short
    if kind == "linear":
        return nn.Linear(cin, cout, bias=False)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout))


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
        except Exception:  # a user's model may fail on meta in any way: run it for real
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


def _layer_code(layer: LayerSpec, kw: dict, pad: str = "    ") -> str:
    tags = layer.entry().tags
    if "model" in tags:
        return f"torchvision.models.get_model({kw['arch']!r}, weights=None, num_classes={kw['num_classes']!r})"
    if "block" not in tags:
        return f"nn.{layer.type}({_kwarg_code(layer, kw)})"
    short = kw["shortcut"]
    if short is not None and short[0] == "linear":
        short = f"nn.Linear({short[1]}, {short[2]}, bias=False)"
    elif short is not None:
        _, cin, cout, k, stride = short
        short = (f"nn.Sequential(nn.Conv2d({cin}, {cout}, kernel_size={k}, stride={stride}, padding={k // 2}, "
                 f"bias=False), nn.BatchNorm2d({cout}))")
    act = "nn.ReLU()" if kw["activation"] == "ReLU" else None
    return (f"Residual(\n{pad}    {_seq_code(kw['body_specs'], kw['body'].kwargs, pad + '    ')},\n"
            f"{pad}    shortcut={short},\n{pad}    activation={act},\n{pad})")


def _seq_code(specs: list, kwargs: list, pad: str) -> str:
    """``nn.Sequential(...)`` of ``specs`` (an OrderedDict one when they are named), one layer a line."""
    named = bool(specs) and all(l.name for l in specs)
    inner = pad + "    "
    lines = [f"({l.name!r}, {_layer_code(l, kw, inner)})," if named else f"{_layer_code(l, kw, inner)},"
             for l, kw in zip(specs, kwargs)]
    if not lines:
        return "nn.Sequential()"
    open_, close = ("nn.Sequential(OrderedDict([", "]))") if named else ("nn.Sequential(", ")")
    return "\n".join([open_, *(inner + l for l in lines), pad + close])


def _walk(specs: list, kwargs: list, refs: list):
    """(layer, its reference in the built model) for every layer, a Residual's body layers included."""
    for layer, kw, ref in zip(specs, kwargs, refs):
        yield layer, ref
        if "block" in layer.entry().tags:
            yield from _walk(kw["body_specs"], kw["body"].kwargs, [f"{ref}.body[{j}]" for j in range(len(kw["body_specs"]))])


def model_code(model_spec: ModelSpec, input_shape) -> str:
    """Runnable plain-PyTorch source that builds the same model as ``build_model`` (defines ``model``)."""
    if isinstance(model_spec, TrainSpec):
        model_spec = model_spec.model
    built = build(model_spec, input_shape)
    layers = model_spec.layers
    named = all(l.name for l in layers)
    refs = [f"model.{l.name}" if named and l.name.isidentifier() and not iskeyword(l.name) else f"model[{i}]"
            for i, l in enumerate(layers)]
    every = list(_walk(layers, built.kwargs, refs))
    tags = set().union(*(l.entry().tags for l, _ in every))
    lines = ["import torch", "from torch import nn"] + (["import torchvision"] if "model" in tags else [])
    if any(l.name for l, _ in every):
        lines.append("from collections import OrderedDict")
    if "block" in tags:
        lines += ["", "", inspect.getsource(Residual).rstrip(), "", ""]
    lines += ["", "model = " + _seq_code(layers, built.kwargs, "")]
    init_lines = []
    for layer, ref in every:
        init = layer.init or model_spec.init
        if not init or "weight" not in layer.entry().tags:
            continue
        entry = INITS[init]
        kw = entry.kwargs({} if layer.init else model_spec.init_params)
        args = "".join(f", {k}={v!r}" for k, v in kw.items())
        init_lines.append(f"nn.init.{entry.build.__name__}({ref}.weight{args})")
    if init_lines:
        lines += ["", "with torch.no_grad():"] + ["    " + l for l in init_lines]
    shape = ", ".join(str(s) for s in tuple(input_shape))
    lines += ["", f"x = torch.zeros(2, {shape})   # a batch of 2: BatchNorm in train mode needs more than 1 value",
              f"print(model(x).shape)  # torch.Size([2, {', '.join(map(str, built.shapes[-1]))}])", ""]
    return "\n".join(lines)
