from decimal import Decimal as D

import pytest

from drawdown.core.expressions import EvaluationError, Expression, ExpressionError


@pytest.mark.parametrize(
    "source, data, expected",
    [
        ("a + b * 2", {"a": 1, "b": 3}, D(7)),
        ("(a + b) / 4", {"a": 1, "b": 2}, D("0.75")),
        ("ceil(a / 1000)", {"a": 1001}, D(2)),
        ("floor(a / 1000)", {"a": 1999}, D(1)),
        ("max(a, 10) - min(a, 10)", {"a": 4}, D(6)),
        ('a * 2 if model == "large" else a', {"a": 5, "model": "large"}, D(10)),
        ('a * 2 if model == "large" else a', {"a": 5, "model": "small"}, D(5)),
        ("a if hd and not cached else 0", {"a": 3, "hd": True, "cached": False}, D(3)),
        ('field("input-tokens") + 1', {"input-tokens": 9}, D(10)),
        ("a * 0.000001", {"a": 1_000_000}, D(1)),
        ("a", {"a": "2.5"}, D("2.5")),
    ],
)
def test_evaluates_exactly(source, data, expected) -> None:
    assert Expression(source)(data) == expected


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('x')",
        "a.__class__",
        "a[0]",
        "[x for x in a]",
        "lambda: 1",
        "open('f')",
        "a ** 99999999",
        "a % 2",
        "",
        "1 +",
        "x" * 501,
        "+".join(["a"] * 150),
        "True",
    ],
)
def test_refuses_everything_else_at_creation(source) -> None:
    with pytest.raises(ExpressionError):
        Expression(source)


def test_evaluation_errors_name_the_field() -> None:
    with pytest.raises(EvaluationError) as seen:
        Expression("a + b")({"a": 1})
    assert seen.value.field == "data.b"
    with pytest.raises(EvaluationError):
        Expression("a / b")({"a": 1, "b": 0})
    with pytest.raises(EvaluationError):
        Expression('a + "x"')({"a": 1})


def test_literals_are_exact_decimals() -> None:
    assert Expression("a * 0.1000000000000000000001")({"a": 10}) == D("1.000000000000000000001")
    assert Expression("1_000 + 0.000001")({}) == D("1000.000001")
