"""A small, safe expression language for custom usage (``unit_aggregation`` / ``volume_aggregation``).

Syntax (docs/pricing.md): decimal numbers, the names of fields of the event's ``data``
(``field("odd-name")`` for keys that are not identifiers), ``+ - * /``, parentheses, comparisons
(``< <= > >= == !=``), ``true``/``false``, ``and``/``or``/``not``, ``a if cond else b``, and the functions ``min``,
``max``, ``abs``, ``ceil``, ``floor``. Strings compare with ``==``/``!=`` only (``model == "large"``).

It is parsed with Python's ``ast`` parser (which never runs code) and evaluated by this module's own
interpreter over ``Decimal``: only the nodes listed here exist; attribute access, subscripts,
lambdas, comprehensions and every other construct are refused when the product is created.
Limits: 500 characters, 200 syntax nodes, nesting 32 deep, results up to 10**15 in magnitude.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any

MAX_LENGTH = 500
MAX_NODES = 200
MAX_DEPTH = 32
MAX_MAGNITUDE = Decimal(10) ** 15
FUNCTIONS = {"min", "max", "abs", "ceil", "floor", "field"}
BOOLEANS = {"true": True, "false": False}

_BIN = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_CMP = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


class ExpressionError(ValueError):
    """The expression is not valid (raised at product creation)."""


class EvaluationError(ValueError):
    """The expression cannot be evaluated on this event's data; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Expression:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tree = compile_expression(source)
        self.fields = sorted(_fields(self.tree))

    def __call__(self, data: Mapping[str, object]) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 50
            value = _eval(self.tree.body, data)
        if isinstance(value, bool) or not isinstance(value, Decimal):
            raise EvaluationError("", f"{self.source!r} must give a number")
        if not value.is_finite() or abs(value) > MAX_MAGNITUDE:
            raise EvaluationError("", f"{self.source!r} gave a number out of range")
        return value


def compile_expression(source: str) -> ast.Expression:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("an expression is required")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"an expression may be at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise ExpressionError(f"not a valid expression: {getattr(exc, 'msg', exc)}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExpressionError(f"an expression may have at most {MAX_NODES} parts")
    text = source.strip()
    for node in ast.walk(tree):
        # Numbers are taken from their source text, so 0.000001 is exactly one millionth (never a float).
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            # ast.Constant's stub does not list Decimal, but the evaluator only ever sees these nodes.
            node.value = Decimal(ast.get_source_segment(text, node) or str(node.value))  # type: ignore[assignment]
    _check(tree.body, 0)
    return tree


def _check(node: ast.AST, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"an expression may nest at most {MAX_DEPTH} deep")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (Decimal, str)):
            raise ExpressionError(f"constant {node.value!r} is not allowed")
        return
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BIN):
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        _check(node.operand, depth + 1)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, depth + 1)
        return
    if isinstance(node, ast.Compare) and all(isinstance(op, _CMP) for op in node.ops):
        for v in [node.left, *node.comparators]:
            _check(v, depth + 1)
        return
    if isinstance(node, ast.IfExp):
        for v in (node.test, node.body, node.orelse):
            _check(v, depth + 1)
        return
    if (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
        and not node.keywords
    ):
        name = node.func.id
        if name == "field":
            args = node.args
            if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
                raise ExpressionError('field() takes one quoted name, e.g. field("input-tokens")')
            return
        unary = name in ("abs", "ceil", "floor")
        if not node.args or (unary and len(node.args) != 1):
            raise ExpressionError(f"{name}() takes {'one argument' if unary else 'arguments'}")
        for a in node.args:
            _check(a, depth + 1)
        return
    raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")


def _fields(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "field":
            names.add(node.args[0].value)  # type: ignore[attr-defined]
    return names - FUNCTIONS - set(BOOLEANS)


def _lookup(data: Mapping[str, object], name: str) -> Any:
    if name not in data:
        raise EvaluationError(f"data.{name}", f"the expression needs data.{name}, which the event lacks")
    raw = data[name]
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, Decimal):
        return raw
    if isinstance(raw, str):
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            return raw
    raise EvaluationError(f"data.{name}", "is not a number, string or boolean")


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise EvaluationError("", f"{what} needs numbers, got {value!r}")
    return value


def _eval(node: ast.AST, data: Mapping[str, object]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in BOOLEANS:
            return BOOLEANS[node.id]
        return _lookup(data, node.id)
    if isinstance(node, ast.BinOp):
        a, b = _number(_eval(node.left, data), "arithmetic"), _number(_eval(node.right, data), "arithmetic")
        try:
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            return a / b
        except (DivisionByZero, InvalidOperation):
            raise EvaluationError("", "division by zero") from None
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, data)
        if isinstance(node.op, ast.Not):
            return not _truth(v)
        v = _number(v, "a sign")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, data)) for v in node.values)
        return any(_truth(_eval(v, data)) for v in node.values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, data)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, data)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, data) if _truth(_eval(node.test, data)) else _eval(node.orelse, data)
    if isinstance(node, ast.Call):
        name = node.func.id  # type: ignore[attr-defined]
        if name == "field":
            return _lookup(data, node.args[0].value)  # type: ignore[attr-defined]
        args = [_number(_eval(a, data), f"{name}()") for a in node.args]
        if name == "min":
            return min(args)
        if name == "max":
            return max(args)
        if name == "abs":
            return abs(args[0])
        if name == "ceil":
            return Decimal(math.ceil(args[0]))
        return Decimal(math.floor(args[0]))
    raise EvaluationError("", f"{type(node).__name__} cannot be evaluated")  # pragma: no cover - refused at compile


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return value != 0
    return bool(value)


def _compare(op: ast.cmpop, a: Any, b: Any) -> bool:
    if isinstance(op, ast.Eq):
        return bool(a == b)
    if isinstance(op, ast.NotEq):
        return bool(a != b)
    x, y = _number(a, "comparison"), _number(b, "comparison")
    if isinstance(op, ast.Lt):
        return x < y
    if isinstance(op, ast.LtE):
        return x <= y
    if isinstance(op, ast.Gt):
        return x > y
    return x >= y
