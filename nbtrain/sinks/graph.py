"""A model's graph as the GraphDef TensorBoard draws, built with tensorboardX's own protos.

torch.jit.trace records the forward pass; every op becomes a node named by the module it ran in
(``Sequential/Conv2d[0]/input.3``), with its output shape. This is what torch.utils.tensorboard's
private ``_pytorch_graph`` does (tensorboardX's add_graph calls it), without the ``tensorboard``
package that module needs: a plain install (torch, tensorboardX) writes the graph.
"""
from __future__ import annotations

import torch


def graph_def(model: torch.nn.Module, x: torch.Tensor):
    """The GraphDef of ``model`` traced on ``x`` (the caller chooses the mode: eval, under no_grad)."""
    from tensorboardX.proto.graph_pb2 import GraphDef  # tensorboardX: only a run that writes a graph needs it
    from tensorboardX.proto.versions_pb2 import VersionDef  # tensorboardX: as above
    trace = torch.jit.trace(model, x)
    g = trace.graph
    torch._C._jit_pass_inline(g)
    return GraphDef(node=_nodes(g, _scope_names(trace)), versions=VersionDef(producer=22))


def _scope_names(trace) -> dict:
    """``__module.features.0`` -> ``Conv2d[0]``; and ``""`` -> the model's own class name."""
    def name(m):
        return m._name if isinstance(m, torch.jit.TracedModule) else getattr(m, "original_name", "Module")
    out = {alias: f"{name(m)}[{alias.split('.')[-1]}]" for alias, m in trace.named_modules(prefix="__module")}
    out[""] = name(trace)
    return out


def _scope(node, attr_scope: dict, names: dict) -> str:
    """Where a node ran: the model's name, then each module it is nested in (``Sequential/Conv2d[0]``)."""
    if node.kind() == "prim::GetAttr":
        raw = attr_scope.get(node.output().debugName(), "")
    else:
        raw = node.scopeName()
    parts = [names.get(a, a.split(".")[-1]) for a in raw.split("/") if a]
    return "/".join([names[""], *parts])


def _attr_scopes(g) -> dict:
    """For every ``prim::GetAttr`` output (a submodule or a parameter): the module path it names."""
    out: dict = {}
    for node in g.nodes():
        if node.kind() != "prim::GetAttr":
            continue
        parent, name = node.input().node(), node.s("name")
        if parent.kind() == "prim::GetAttr":           # nested: Sequential's features, then its 0
            scope = out[parent.output().debugName()]
            out[node.output().debugName()] = f"{scope}/{scope.split('/')[-1]}.{name}"
        else:
            out[node.output().debugName()] = f"__module.{name}"
    return out


def _nodes(g, names: dict) -> list:
    from tensorboardX.proto.node_def_pb2 import NodeDef  # tensorboardX: only a run that writes a graph needs it
    scoped: dict = {}
    nodes = []
    for v in g.inputs():
        if v.type().kind() != "ClassType" and v.uses():
            scoped[v.debugName()] = f"input/{v.debugName()}"
            nodes.append(NodeDef(name=scoped[v.debugName()], op="IO Node", attr=_attrs(v, "")))
    attr_scope = _attr_scopes(g)
    for node in g.nodes():
        if node.kind() == "prim::GetAttr" and node.output().type().kind() == "ClassType":
            continue                                  # a submodule, not a value
        scope = _scope(node, attr_scope, names)
        inputs = [scoped[i.debugName()] for i in node.inputs() if i.debugName() in scoped]
        text = str({k: _attribute(node, k) for k in node.attributeNames()}).replace("'", " ")
        for out in node.outputs():
            scoped[out.debugName()] = f"{scope}/{out.debugName()}"
            nodes.append(NodeDef(name=scoped[out.debugName()], op=node.kind(), input=inputs, attr=_attrs(out, text)))
    for i, v in enumerate(g.outputs()):
        nodes.append(NodeDef(name=f"output/output.{i + 1}", op="IO Node", input=[scoped.get(v.debugName(), "")],
                             attr=_attrs(v, "")))
    return nodes


def _attrs(value, text: str) -> dict:
    """A node's ``attr``: the op's attributes as text, and its output shape when the tracer knows it."""
    from tensorboardX.proto.attr_value_pb2 import AttrValue  # tensorboardX: only a run that writes a graph needs it
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto  # tensorboardX: as above
    attr = {"attr": AttrValue(s=text.encode())}
    if value.isCompleteTensor():
        shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in value.type().sizes()])
        attr["_output_shapes"] = AttrValue(list=AttrValue.ListValue(shape=[shape]))
    return attr


def _attribute(node, key: str):
    """A node attribute of whatever type it has (``kindOf`` names the getter: i, f, s, t...)."""
    return getattr(node, node.kindOf(key))(key)
