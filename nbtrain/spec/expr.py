"""A small, safe arithmetic language for LambdaLR / MultiplicativeLR factors: an expression of ``epoch``.

Parsed once with ``ast`` and checked node by node: numbers, ``epoch``, + - * / // % **, unary minus,
comparisons, ``a if cond else b``, and the functions min, max, abs, exp, log, sqrt, cos, sin and the
constants pi and e. The checked tree is compiled into nested Python closures; nothing is ever passed to
``eval`` or ``exec``. Every number is a float while evaluating (``epoch`` too), so no integer can grow without
bound: ``9 ** 999`` overflows at once instead of building a 3000-digit integer, and each node costs O(1).

``factors(...)`` checks the factor at every epoch a run will call it with (known at build time): a division
by zero, a domain error, an overflow, a non-finite value or a factor <= 0 is a SpecError naming the
expression, the epoch and the fix, never a ZeroDivisionError mid-training or a silent negative LR.
``Expr.code`` is the canonical source of the checked tree (``ast.unparse`` of it, numbers as floats) that
``to_code`` emits: the script evaluates the same float arithmetic and never contains the user's raw text.
"""
from __future__ import annotations

import ast
import copy
import math
import operator
from collections.abc import Callable

import numpy as np

from ..errors import SpecError

MAX_CHARS = 1000     # longer text is refused before parsing (keeps parsing and each evaluation bounded)
CHUNK = 4096         # epochs checked at once in numpy
MAX_DEPTH = 200      # deeper trees are refused (evaluation and ast.unparse recurse)

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCS = {"min": min, "max": max, "abs": abs, "exp": math.exp, "log": math.log, "sqrt": math.sqrt,
          "cos": math.cos, "sin": math.sin}
_ARITY = {"min": (2, 99), "max": (2, 99)}   # the others take exactly one argument
_CONSTS = {"pi": math.pi, "e": math.e}
_SYNTAX = ("use numbers, epoch, + - * / // % **, comparisons, 'a if c else b', "
           "min, max, abs, exp, log, sqrt, cos, sin, pi, e")

PRESETS = {
    "exp_decay_0.95": "0.95 ** epoch",
    "linear_decay": "max(0.0, 1 - epoch / 100)",
    "inverse_sqrt": "1 / sqrt(epoch + 1)",
    "step_half_10": "0.5 ** (epoch // 10)",
}


def _real(v):
    if isinstance(v, complex):   # (-8.0) ** 0.5 is complex in Python
        raise ValueError("not a real number")
    return v


def _closure(node: ast.AST) -> Callable[[float], float]:
    """The checked node as a function of epoch (a float)."""
    if isinstance(node, ast.Constant):
        value = float(node.value)
        return lambda ep: value
    if isinstance(node, ast.Name):
        if node.id == "epoch":
            return lambda ep: ep
        value = _CONSTS[node.id]
        return lambda ep: value
    if isinstance(node, ast.BinOp):
        op, left, right = _BIN[type(node.op)], _closure(node.left), _closure(node.right)
        return lambda ep: _real(op(left(ep), right(ep)))
    if isinstance(node, ast.UnaryOp):
        inner = _closure(node.operand)
        return (lambda ep: -inner(ep)) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Compare):
        first, pairs = _closure(node.left), [(_CMP[type(o)], _closure(c)) for o, c in zip(node.ops, node.comparators)]
        return lambda ep: _compare(first(ep), pairs, ep)
    if isinstance(node, ast.IfExp):
        test, body, orelse = _closure(node.test), _closure(node.body), _closure(node.orelse)
        return lambda ep: body(ep) if test(ep) else orelse(ep)
    fn, args = _FUNCS[node.func.id], [_closure(a) for a in node.args]
    return lambda ep: fn(*[a(ep) for a in args])


_VFUNCS = {"min": lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)),
           "max": lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)), "abs": np.abs, "exp": np.exp,
           "log": np.log, "sqrt": np.sqrt, "cos": np.cos, "sin": np.sin}


def _vector(node: ast.AST) -> Callable[[np.ndarray], np.ndarray]:
    """The checked node over an array of epochs at once (numpy float64, the same IEEE arithmetic). Under
    np.errstate(all="raise") it raises wherever the scalar closure would (and, rarely, where it would not:
    an overflowing product, a branch or comparison the scalar one skips); ``check`` then scans in scalars."""
    if isinstance(node, (ast.Constant, ast.Name)) and getattr(node, "id", "") != "epoch":
        value = _closure(node)(0.0)
        return lambda ep: value
    if isinstance(node, ast.Name):
        return lambda ep: ep
    if isinstance(node, ast.BinOp):
        op, left, right = _BIN[type(node.op)], _vector(node.left), _vector(node.right)
        return lambda ep: op(np.float64(left(ep)), right(ep))
    if isinstance(node, ast.UnaryOp):
        inner = _vector(node.operand)
        return (lambda ep: -inner(ep)) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Compare):
        parts = [_vector(node.left)] + [_vector(c) for c in node.comparators]
        ops = [_CMP[type(o)] for o in node.ops]
        return lambda ep: np.logical_and.reduce([np.broadcast_to(True, np.shape(ep))] + [
            op(a(ep), b(ep)) for op, a, b in zip(ops, parts, parts[1:])]).astype(np.float64)
    if isinstance(node, ast.IfExp):
        test, body, orelse = _vector(node.test), _vector(node.body), _vector(node.orelse)
        return lambda ep: np.where(test(ep) != 0, body(ep), orelse(ep))
    fn, args = _VFUNCS[node.func.id], [_vector(a) for a in node.args]
    return lambda ep: fn(*[np.float64(a(ep)) for a in args])


def _compare(left, pairs, ep) -> float:
    for op, comp in pairs:
        right = comp(ep)
        if not op(left, right):
            return 0.0
        left = right
    return 1.0


def _bad_node(node: ast.AST) -> str | None:
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
               ast.Load, ast.USub, ast.UAdd, *_BIN, *_CMP)
    if not isinstance(node, allowed):
        return type(node).__name__
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, int) and v.bit_length() > 1000 or not math.isfinite(float(v)):
            return f"the number {str(v)[:20]}... (too large)"
    if isinstance(node, ast.Name) and node.id not in _CONSTS and node.id != "epoch" and node.id not in _FUNCS:
        return f"name {node.id!r}"
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        lo, hi = _ARITY.get(name, (1, 1))
        if name not in _FUNCS or node.keywords or not lo <= len(node.args) <= hi:
            return "this call" if name not in _FUNCS or node.keywords else f"{name} with {len(node.args)} arguments"
    return None


class Expr:
    """A checked expression: call it with an epoch; ``code`` is its canonical source (numbers as floats)."""

    def __init__(self, text: str, tree: ast.Expression):
        self.text, self.tree = text, tree
        self._fn = _closure(tree.body)

    def __call__(self, epoch) -> float:
        return float(self._fn(float(epoch)))

    def function(self) -> Callable[[int], float]:
        """A plain function of epoch (torch's LambdaLR.state_dict skips plain functions, but would save an
        object's ``__dict__``)."""
        return lambda epoch: self(epoch)

    @property
    def code(self) -> str:
        return ast.unparse(_as_floats(self.tree))


class _Floats(ast.NodeTransformer):
    def visit_Constant(self, node):
        return ast.copy_location(ast.Constant(float(node.value)), node)


def _as_floats(tree: ast.Expression) -> ast.Expression:
    return _Floats().visit(copy.deepcopy(tree))


def parse(text, where: str = "expr") -> Expr:
    """Parse and check ``text`` (SpecError on anything but the arithmetic above)."""
    if not isinstance(text, str):
        raise SpecError(f"expected str, got {type(text).__name__}", where, "write an expression of epoch")
    if len(text) > MAX_CHARS:
        raise SpecError(f"the expression has {len(text)} characters", where, f"keep it under {MAX_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        msg = getattr(e, "msg", None) or str(e) or type(e).__name__
        raise SpecError(f"cannot parse {_show(text)}: {msg}", where,
                        "write an expression of epoch, e.g. '0.95 ** epoch'") from None
    for node in ast.walk(tree):
        bad = _bad_node(node)
        if bad:
            raise SpecError(f"{bad} is not allowed in {_show(text)}", where, _SYNTAX)
    if _depth(tree) > MAX_DEPTH:
        raise SpecError(f"{_show(text)} nests deeper than {MAX_DEPTH} levels", where, "write a flatter expression")
    return Expr(text, tree)


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))
    return deepest


def check(e: Expr, epochs: range, where: str, unit: str = "epoch") -> None:
    """The factor is a finite number > 0 at each of ``epochs`` (those that train) and defined one past the last
    (the final scheduler.step() computes it, no step uses it: a linear decay may reach 0 there); else a
    SpecError naming the first bad epoch. Blocks of epochs at once in numpy; epoch by epoch only in a block
    that numpy flags, so a long per-step run is checked in a fraction of a second."""
    fn = _vector(e.tree.body)
    for lo in range(epochs.start, epochs.stop + 1, CHUNK):
        ks = np.arange(lo, min(lo + CHUNK, epochs.stop + 1), dtype=np.float64)
        try:
            with np.errstate(all="raise"):
                v = np.broadcast_to(fn(ks), ks.shape)
            flagged = bool((~np.isfinite(v) | ((v <= 0) & (ks < epochs.stop))).any())
        except (ArithmeticError, FloatingPointError, ValueError):
            flagged = True
        for k in range(lo, lo + len(ks)) if flagged else ():
            _check_one(e, k, epochs, where, unit)


def _check_one(e: Expr, k: int, epochs: range, where: str, unit: str) -> None:
    fix = (f"a factor must be a finite number > 0 at every {unit} that trains ({epochs.start} to {epochs.stop - 1}) "
           f"and defined at {epochs.stop}; e.g. clamp it with max(0.01, ...)")
    try:
        v = e(k)
    except ZeroDivisionError:
        raise SpecError(f"{_show(e.text)} divides by zero at {unit} {k}", where, fix) from None
    except OverflowError:
        raise SpecError(f"{_show(e.text)} overflows (too large for a float) at {unit} {k}", where, fix) from None
    except (ArithmeticError, ValueError, TypeError) as err:
        raise SpecError(f"{_show(e.text)} fails at {unit} {k}: {err}", where, fix) from None
    if not math.isfinite(v) or (v <= 0 and k < epochs.stop):
        raise SpecError(f"{_show(e.text)} is {v:g} at {unit} {k}", where, fix)


def _show(text: str) -> str:
    """The expression as messages quote it: repr, cut to 80 characters."""
    return repr(text) if len(text) <= 80 else repr(text[:77]) + "..."


def compile_expr(text: str, where: str = "expr") -> Callable[[int], float]:
    """A checked expression as ``f(epoch) -> float``; defined at epochs 0 and 1 (the whole run: ``factors``)."""
    e = parse(text, where)
    for k in (0, 1):
        try:
            e(k)
        except (ArithmeticError, ValueError, TypeError) as err:
            raise SpecError(f"{text!r} fails at epoch 0 or 1: {err}", where,
                            "make it defined for every epoch >= 0") from None
    return e


def texts(params: dict, where: str) -> list[tuple[str, str]]:
    """(text, where) of a LambdaLR / MultiplicativeLR spec: one per expr (a str or a list, one per param group),
    else its preset."""
    expr = params.get("expr", "")
    preset = params.get("preset", "none")
    if isinstance(expr, list) and expr:
        return [(t, f"{where}.expr[{i}]") for i, t in enumerate(expr)]
    if expr:
        return [(expr, f"{where}.expr")]
    if preset != "none":
        return [(PRESETS[preset], f"{where}.preset")]
    raise SpecError("needs an expr or a preset", where, "set expr, e.g. '0.95 ** epoch', or a preset")


def factors(params: dict, where: str, groups: int, last: int, first: int = 0, unit: str = "epoch") -> list[Expr]:
    """The checked factor of each of ``groups`` param groups: > 0 at epochs first..last-1 (those that train),
    defined at last (``unit``: what the scheduler counts, 'epoch' or 'step')."""
    found = texts(params, where)
    if len(found) not in (1, groups):
        raise SpecError(f"{len(found)} expressions for {groups} param groups", f"{where}.expr",
                        f"give one expression, or a list of {groups} (one per group, 'default' first)")
    out = []
    for text, at in found:
        e = parse(text, at)
        check(e, range(first, last), at, unit)
        out.append(e)
    return out * groups if len(out) == 1 else out
