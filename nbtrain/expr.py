"""A small, safe arithmetic language for LambdaLR / MultiplicativeLR factors: an expression of ``epoch``.

Parsed with ``ast`` and checked node by node: numbers, ``epoch``, + - * / // % **, unary minus,
comparisons, ``a if cond else b``, and the functions min, max, abs, exp, log, sqrt, cos, sin and the
constants pi and e. Nothing is ever passed to ``eval``.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Callable

from .errors import SpecError

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCS = {"min": min, "max": max, "abs": abs, "exp": math.exp, "log": math.log, "sqrt": math.sqrt,
          "cos": math.cos, "sin": math.sin}
_CONSTS = {"pi": math.pi, "e": math.e}

PRESETS = {
    "exp_decay_0.95": "0.95 ** epoch",
    "linear_decay": "max(0.0, 1 - epoch / 100)",
    "inverse_sqrt": "1 / sqrt(epoch + 1)",
    "step_half_10": "0.5 ** (epoch // 10)",
}


def _eval(node: ast.AST, epoch: float) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body, epoch)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "epoch":
            return epoch
        return _CONSTS[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, epoch), _eval(node.right, epoch)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ValueError("exponent too large")
        return _BIN[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, epoch)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, epoch)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, epoch)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, epoch) if _eval(node.test, epoch) else _eval(node.orelse, epoch)
    if isinstance(node, ast.Call):
        return _FUNCS[node.func.id](*[_eval(a, epoch) for a in node.args])
    raise AssertionError("unchecked node")  # compile_expr rejects everything else


def _check_tree(tree: ast.AST, text: str, where: str) -> None:
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
               ast.Load, ast.USub, ast.UAdd, *_BIN, *_CMP)
    for node in ast.walk(tree):
        bad = None
        if not isinstance(node, allowed):
            bad = type(node).__name__
        elif isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            bad = repr(node.value)
        elif isinstance(node, ast.Name) and node.id not in _CONSTS and node.id != "epoch" and node.id not in _FUNCS:
            bad = f"name {node.id!r}"
        elif isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS
                                             or node.keywords):
            bad = "this call"
        if bad:
            raise SpecError(f"{bad} is not allowed in {text!r}", where,
                            "use numbers, epoch, + - * / // % **, comparisons, 'a if c else b', "
                            "min, max, abs, exp, log, sqrt, cos, sin, pi, e")


def compile_expr(text: str, where: str = "expr") -> Callable[[int], float]:
    """Return a plain function ``f(epoch) -> float`` for a safe expression (raises SpecError on anything else)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise SpecError(f"cannot parse {text!r}: {e.msg}", where, "write an expression of epoch, e.g. '0.95 ** epoch'") from None
    _check_tree(tree, text, where)

    def factor(epoch):
        return float(_eval(tree, epoch))

    try:
        factor(0)
        factor(1)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
        raise SpecError(f"{text!r} fails at epoch 0 or 1: {e}", where, "make it defined for every epoch >= 0") from None
    return factor


def lambda_for(params: dict, where: str) -> Callable[[int], float]:
    """The factor function of a LambdaLR / MultiplicativeLR spec: its expr, else its preset."""
    expr = params.get("expr", "")
    preset = params.get("preset", "none")
    if expr:
        return compile_expr(expr, f"{where}.expr")
    if preset != "none":
        return compile_expr(PRESETS[preset], f"{where}.preset")
    raise SpecError("needs an expr or a preset", where, "set expr, e.g. '0.95 ** epoch', or a preset")
