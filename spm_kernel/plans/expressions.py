"""A restricted expression language for plan formulas and credit filters.

Plans may hold small expressions such as ``deal_type in ['new', 'expansion'] and amount >=
10000`` (a credit filter) or ``min(attainment, 1.5) * target_incentive * 0.1`` (a formula).
They are parsed with :mod:`ast` and checked against a whitelist when the plan is loaded; they
are never given to ``eval``.

Allowed: literals (numbers, strings, ``True``/``False``/``None``, lists/tuples of literals),
names from the context the expression is used in, ``+ - * / // %`` and ``**`` with a small
constant exponent, comparisons (``== != < <= > >=``, ``in``, ``not in``, chained), ``and`` /
``or`` / ``not``, ``x if cond else y``, and the functions ``min``, ``max``, ``abs``, ``round``
and ``date('YYYY-MM-DD')``.

Refused: imports, attribute access (``x.y``), subscripts, lambdas, comprehensions, keyword or
starred arguments, dunder names, any other function, walrus, f-strings; expressions longer
than :data:`MAX_LENGTH` characters or with more than :data:`MAX_NODES` syntax nodes;
arithmetic on text or lists (``[0] * 10**12`` would exhaust memory), non-finite number
literals, and ``round`` to more than :data:`MAX_ROUND_PLACES` places. With no loops, at most
:data:`MAX_NODES` operations and bounded powers, evaluating an expression takes bounded time
and memory (per row, over a DataFrame); any failure while evaluating is an
:class:`ExpressionError`, never a raw Python exception.

Number literals are read as exact ``Decimal`` values (``0.1`` is one tenth, not a binary
float). Over a DataFrame (:meth:`Expression.evaluate_frame`) names are columns, and the
operators work column-wise: ``and``/``or``/``not`` become ``&``/``|``/``~``, ``in`` becomes
``isin``, ``min``/``max`` are element-wise.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from spm_kernel.errors import SPMError

MAX_LENGTH = 1000
MAX_NODES = 200
MAX_POWER = 8
MAX_POWER_BASE = 10**6
MAX_ROUND_PLACES = 12
FUNCTIONS = ("min", "max", "abs", "round", "date")

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_REFUSED = {
    ast.Attribute: "attribute access (x.y) is not allowed",
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed; use a list",
}


class ExpressionError(SPMError, ValueError):
    """An expression that is not allowed, does not parse, or fails when evaluated."""


def _fail(node: ast.AST | None, message: str, source: str) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    where = f" (at character {col + 1})" if col is not None else ""
    return ExpressionError(f"{message}{where} in expression {source!r}")


@dataclass(frozen=True)
class Expression:
    """A validated expression. Build with :func:`compile_expression`."""

    source: str
    tree: ast.Expression
    names: frozenset[str]

    # ---- scalar evaluation ----
    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The value of the expression with ``context`` giving each name's value."""
        missing = self.names - set(context)
        if missing:
            raise ExpressionError(f"expression {self.source!r} needs {sorted(missing)}")
        return _Evaluator(context, self.source, vectorised=False).visit(self.tree.body)

    # ---- column-wise evaluation ----
    def evaluate_frame(self, frame: pd.DataFrame, extra: Mapping[str, Any] | None = None) -> pd.Series:
        """The expression over every row of ``frame`` at once (names are its columns, or
        ``extra`` scalars). Returns a Series aligned with ``frame`` (a constant expression is
        broadcast)."""
        context: dict[str, Any] = dict(extra or {})
        for name in self.names:
            if name in frame.columns:
                context[name] = frame[name]
        missing = self.names - set(context)
        if missing:
            raise ExpressionError(f"expression {self.source!r} needs column(s) {sorted(missing)}")
        value = _Evaluator(context, self.source, vectorised=True).visit(self.tree.body)
        if isinstance(value, pd.Series):
            return value
        return pd.Series([value] * len(frame), index=frame.index, dtype=object)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """A boolean filter over ``frame``'s rows (missing values count as False)."""
        value = self.evaluate_frame(frame)
        if value.dtype == bool:
            return value.to_numpy()
        return value.fillna(False).astype(bool).to_numpy()


def compile_expression(source: str, names: Iterable[str], what: str = "expression") -> Expression:
    """Parse and validate ``source``; ``names`` are the names it may use.

    Raises :class:`ExpressionError` saying what is not allowed and where.
    """
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(f"{what} must be a non-empty string")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"{what} is {len(source)} characters long; at most {MAX_LENGTH} are allowed")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{what} {source!r} does not parse: {exc.msg} (at character {exc.offset})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes; nesting the parser refuses
        raise ExpressionError(f"{what} {source!r} does not parse: {exc or 'nested too deeply'}") from None
    allowed = set(names)
    count = 0
    used: set[str] = set()
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"{what} {source!r} is too complex (more than {MAX_NODES} parts)")
        _check_node(node, allowed, used, source)
    return Expression(source.strip(), tree, frozenset(used))


def _check_node(node: ast.AST, allowed: set[str], used: set[str], source: str) -> None:
    for refused, message in _REFUSED.items():
        if isinstance(node, refused):
            raise _fail(node, message, source)
    if isinstance(node, (ast.Expression, ast.Load, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
                         ast.In, ast.NotIn, ast.IfExp, ast.BoolOp, ast.Compare, ast.UnaryOp)):
        return
    if isinstance(node, tuple(_CMPOPS)):
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise _fail(node, f"operator {type(node.op).__name__} is not allowed", source)
        for side in (node.left, node.right):
            if isinstance(side, ast.Constant) and isinstance(side.value, str):
                raise _fail(node, "arithmetic on text is not allowed", source)
            if isinstance(side, (ast.List, ast.Tuple)):
                raise _fail(node, "arithmetic on lists is not allowed", source)
        if isinstance(node.op, ast.Pow):
            exp = node.right
            if not (isinstance(exp, ast.Constant) and isinstance(exp.value, int)
                    and not isinstance(exp.value, bool) and abs(exp.value) <= MAX_POWER):
                raise _fail(node, f"** needs a constant whole exponent between -{MAX_POWER} and {MAX_POWER}", source)
        return
    if isinstance(node, tuple(_BINOPS)):
        return
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool, type(None))) or isinstance(node.value, complex):
            raise _fail(node, f"literal {node.value!r} is not allowed", source)
        if isinstance(node.value, str) and len(node.value) > 200:
            raise _fail(node, "text literals are limited to 200 characters", source)
        if isinstance(node.value, float) and not np.isfinite(node.value):
            raise _fail(node, f"number {ast.get_source_segment(source.strip(), node) or node.value!r} is not finite", source)
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for elt in node.elts:
            if not isinstance(elt, ast.Constant) and not (
                    isinstance(elt, ast.UnaryOp) and isinstance(elt.operand, ast.Constant)):
                raise _fail(node, "lists may only hold literals", source)
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("__") or node.id.startswith("_"):
            raise _fail(node, f"name {node.id!r} is not allowed (names may not start with _)", source)
        if node.id in FUNCTIONS:
            return  # checked at the call
        if node.id in ("True", "False", "None"):
            return
        if node.id not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise _fail(node, f"unknown name {node.id!r}; available names: {known}", source)
        used.add(node.id)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise _fail(node, f"function {name!r} is not allowed; allowed: {', '.join(FUNCTIONS)}", source)
        if node.keywords:
            raise _fail(node, "keyword arguments are not allowed", source)
        if node.func.id == "date" and not (len(node.args) == 1 and isinstance(node.args[0], ast.Constant)
                                           and isinstance(node.args[0].value, str)):
            raise _fail(node, "date() takes one literal 'YYYY-MM-DD'", source)
        if node.func.id in ("min", "max") and len(node.args) < 2:
            raise _fail(node, f"{node.func.id}() takes at least two values", source)
        if node.func.id == "abs" and len(node.args) != 1:
            raise _fail(node, "abs() takes one value", source)
        if node.func.id == "round" and len(node.args) not in (1, 2):
            raise _fail(node, "round() takes a value and optionally a number of places", source)
        if node.func.id == "round" and len(node.args) == 2 and isinstance(node.args[1], ast.Constant) and not (
                isinstance(node.args[1].value, int) and abs(node.args[1].value) <= MAX_ROUND_PLACES):
            raise _fail(node, f"round() places must be a whole number from -{MAX_ROUND_PLACES} to "
                              f"{MAX_ROUND_PLACES}", source)
        return
    raise _fail(node, f"{type(node).__name__} is not allowed", source)


def _is_series(value: Any) -> bool:
    return isinstance(value, pd.Series)


def _is_text(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.StringDtype):
        return True
    if series.dtype == object:
        return pd.api.types.infer_dtype(series, skipna=True) in ("string", "mixed", "bytes")
    return False


def _literal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


class _Evaluator(ast.NodeVisitor):
    def __init__(self, context: Mapping[str, Any], source: str, vectorised: bool) -> None:
        self.context = context
        self.source = source
        self.vectorised = vectorised

    def generic_visit(self, node: ast.AST) -> Any:  # pragma: no cover - compile refuses these
        raise _fail(node, f"{type(node).__name__} is not allowed", self.source)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return _literal(node.value)

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id == "True":
            return True
        if node.id == "False":
            return False
        if node.id == "None":
            return None
        return self.context[node.id]

    def visit_List(self, node: ast.List) -> list[Any]:
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            if _is_series(value):
                return ~value.fillna(False).astype(bool)
            return not value
        try:
            return -value if isinstance(node.op, ast.USub) else +value
        except (ArithmeticError, TypeError) as exc:
            raise _fail(node, f"cannot compute: {exc}", self.source) from None

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        for side in (left, right):
            if isinstance(side, str) or (_is_series(side) and _is_text(side)):
                raise _fail(node, "arithmetic on text is not allowed", self.source)
            if isinstance(side, (list, tuple)):
                raise _fail(node, "arithmetic on lists is not allowed", self.source)
        if isinstance(node.op, ast.Pow) and not _is_series(left) and abs(left) > MAX_POWER_BASE:
            raise _fail(node, f"** is limited to bases up to {MAX_POWER_BASE}", self.source)
        try:
            return _BINOPS[type(node.op)](left, right)
        except (ArithmeticError, TypeError) as exc:
            raise _fail(node, f"cannot compute: {exc}", self.source) from None

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(v) for v in node.values]
        if any(_is_series(v) for v in values):
            series = [v.fillna(False).astype(bool) if _is_series(v) else bool(v) for v in values]
            out = series[0]
            for v in series[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node.op, ast.And):
            return all(values)
        return any(values)

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        result: Any = True
        for op, comparator in zip(node.ops, node.comparators):
            right = self.visit(comparator)
            if isinstance(op, (ast.In, ast.NotIn)):
                if _is_series(right):  # also 'column in column'
                    raise _fail(node, "'x in column' is not supported; compare the column with ==", self.source)
                if _is_series(left):
                    items = right if isinstance(right, list) else [right]
                    part = left.isin(items)
                else:
                    try:
                        part = left in (right if isinstance(right, (list, str)) else [right])
                    except TypeError as exc:
                        raise _fail(node, f"cannot compare: {exc}", self.source) from None
                if isinstance(op, ast.NotIn):
                    part = ~part if _is_series(part) else not part
            else:
                try:
                    part = _CMPOPS[type(op)](left, right)
                except TypeError as exc:
                    raise _fail(node, f"cannot compare: {exc}", self.source) from None
                if _is_series(part):
                    part = part.fillna(False).astype(bool)
            result = part if result is True else (result & part if _is_series(result) or _is_series(part)
                                                  else result and part)
            left = right
        return result

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        test = self.visit(node.test)
        body, orelse = self.visit(node.body), self.visit(node.orelse)
        if _is_series(test) or _is_series(body) or _is_series(orelse):
            index = next(v.index for v in (test, body, orelse) if _is_series(v))
            cond = test.astype(bool).to_numpy() if _is_series(test) else np.full(len(index), bool(test))
            a = body.to_numpy(dtype=object) if _is_series(body) else np.full(len(index), body, dtype=object)
            b = orelse.to_numpy(dtype=object) if _is_series(orelse) else np.full(len(index), orelse, dtype=object)
            return pd.Series(np.where(cond, a, b), index=index, dtype=object)
        return body if test else orelse

    def visit_Call(self, node: ast.Call) -> Any:
        args = [self.visit(a) for a in node.args]
        try:
            return self._call(node, args)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise _fail(node, f"cannot compute: {exc}", self.source) from None

    def _call(self, node: ast.Call, args: list[Any]) -> Any:
        name = node.func.id  # type: ignore[attr-defined]
        if name == "date":
            try:
                return pd.Timestamp(args[0])
            except ValueError:
                raise _fail(node, f"date({args[0]!r}) is not a date", self.source) from None
        if name == "abs":
            return args[0].abs() if _is_series(args[0]) else abs(args[0])
        if name == "round":
            places = int(args[1]) if len(args) > 1 else 0
            if abs(places) > MAX_ROUND_PLACES:
                raise _fail(node, f"round() places must be from -{MAX_ROUND_PLACES} to {MAX_ROUND_PLACES}",
                            self.source)
            if _is_series(args[0]):
                return args[0].map(lambda v: _round(v, places))
            return _round(args[0], places)
        if any(_is_series(a) for a in args):
            index = next(a.index for a in args if _is_series(a))
            frame = pd.DataFrame({i: (a if _is_series(a) else pd.Series([a] * len(index), index=index, dtype=object))
                                  for i, a in enumerate(args)})
            cols = [frame[c] for c in frame.columns]
            out = cols[0]
            for c in cols[1:]:
                pick = (c < out) if name == "min" else (c > out)
                out = out.where(~pick.astype(bool), c)
            return out
        return min(args) if name == "min" else max(args)


def _round(value: Any, places: int) -> Any:
    from spm_kernel.money import round_money
    if value is None:
        return None
    if isinstance(value, (Decimal, int)):
        return round_money(Decimal(value), places)
    return round(value, places)
