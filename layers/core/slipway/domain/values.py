"""One value as validation reads it, in plain Python: the per-value rule that validation applies to whole
columns through Arrow (its patterns and words below, categories over each column's distinct values) and serving
applies to a request's JSON values, so that a model accepts, and reads alike, the rows it was trained on.

A JSON value reads as a CSV cell does. A string is the cell's text, read either way validation may read it: as
text (a column that holds text: trimmed, then parsed by the patterns below) or as the type Arrow's CSV reader
infers for it (``4.0`` in an int column, ``true`` in a float one); a text in the contract's ``null_values`` is
missing. A number or a boolean is the typed value a Parquet column holds (NaN is missing). Categories are
canonical text (``canonical_category``), timestamps ISO 8601 (naive times are UTC, numbers are not read as
times). Standard library only: the inference path loads no pyarrow."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from slipway.domain.categories import canonical_category

__all__ = [
    "FALSE_WORDS",
    "FLOAT_PATTERN",
    "INT_PATTERN",
    "NAIVE_TIMESTAMP_PATTERN",
    "TRUE_WORDS",
    "ZONED_TIMESTAMP_PATTERN",
    "Unreadable",
    "canonical_value",
    "value_reader",
]

# Text read as an int, a float, a timestamp (RE2-compatible: Arrow's regex kernels use them too).
INT_PATTERN = r"^[+-]?\d{1,19}$"
FLOAT_PATTERN = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
_DATE, _TIME, _ZONE = r"\d{4}-\d{2}-\d{2}", r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?", r"(Z|[+-]\d{2}(:?\d{2})?)"
NAIVE_TIMESTAMP_PATTERN, ZONED_TIMESTAMP_PATTERN = f"^{_DATE}({_TIME})?$", f"^{_DATE}{_TIME}{_ZONE}$"
# Text read as a bool (compared lower-cased).
TRUE_WORDS, FALSE_WORDS = ("true", "t", "1", "yes", "y"), ("false", "f", "0", "no", "n")
# What Arrow's CSV reader infers as a timestamp column: the patterns above, and times of an hour alone.
_CSV_TIMESTAMP_PATTERN = rf"^{_DATE}([T ]\d{{2}}(:\d{{2}}(:\d{{2}}(\.\d{{1,9}})?)?)?{_ZONE}?)?$"
# What Arrow's CSV reader infers as a boolean column (then read as 1/0 by a number column).
_CSV_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}

# RE2's \d is ASCII; so is ours.
_INT = re.compile(INT_PATTERN, re.ASCII)
_FLOAT = re.compile(FLOAT_PATTERN, re.ASCII)
_TIMESTAMP = re.compile(_CSV_TIMESTAMP_PATTERN, re.ASCII)  # covers NAIVE_ and ZONED_TIMESTAMP_PATTERN
_TRUTH = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
_INT64 = 2**63
_NOUNS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "timestamp": "an ISO-8601 timestamp",
    "string": "a string",
    "category": "a category",
}


class Unreadable(ValueError):
    """A value that cannot be read as its column's type (validation's ``type`` finding)."""

    def __init__(self, value: Any, col_type: str) -> None:
        super().__init__(f"expected {_NOUNS[col_type]}, got {value!r}")


def _number(text: str) -> float | None:
    """The text as a float when it is one (Arrow's CSV reader infers a number), else None."""
    return float(text) if _FLOAT.fullmatch(text) else None


def _int_of(number: float | int) -> int | None:
    """An integral number within int64 as an int, else None (validation's float → int rule)."""
    if isinstance(number, int):
        return number if -_INT64 <= number < _INT64 else None
    if not math.isfinite(number) or not number.is_integer() or abs(number) >= _INT64:
        return None
    return int(number)


def _int(value: Any) -> int | None:
    if type(value) is int and -_INT64 <= value < _INT64:
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None
        found = _int_of(value)
        if found is None:
            raise Unreadable(value, "int")
        return found
    text = value.strip()
    unsigned = text[1:] if text.startswith("+") else text  # validation drops one "+": Arrow reads none
    if _INT.fullmatch(unsigned) and not unsigned.startswith("+"):
        found = _int_of(int(unsigned))
    elif (number := _number(text)) is not None:
        if math.isnan(number):
            return None
        found = _int_of(number)
    elif text in _CSV_BOOLS:
        found = int(_CSV_BOOLS[text])
    else:
        found = None
    if found is None:
        raise Unreadable(value, "int")
    return found


def _float(value: Any) -> float | None:
    if type(value) is float:
        return None if math.isnan(value) else value
    if isinstance(value, (bool, int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any double
            raise Unreadable(value, "float") from None
    else:
        text = value.strip()
        if (parsed := _number(text)) is not None:
            number = parsed
        elif text in _CSV_BOOLS:
            number = float(_CSV_BOOLS[text])
        else:
            raise Unreadable(value, "float")
    return None if math.isnan(number) else number


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value not in (0, 1):
            raise Unreadable(value, "bool")
        return value == 1
    number: float | None
    if isinstance(value, float):
        number = value
    else:
        text = value.strip()
        truth = _TRUTH.get(text.lower())
        if truth is not None:
            return truth
        number = _number(text)
    if number is not None and math.isnan(number):
        return None
    if number not in (0.0, 1.0):
        raise Unreadable(value, "bool")
    return number == 1.0


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(text := value.strip()):
        raise Unreadable(value, "timestamp")
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # 2024-02-30; 9999-12-31T23:00-05:00 is past the last datetime
        raise Unreadable(value, "timestamp") from None


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # an integer's text is unambiguous; a float's is not (4.0 or "4"?)
    raise Unreadable(value, "string")


_READERS = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "timestamp": _timestamp,
    "string": _string,
    "category": canonical_category,
}


def value_reader(col_type: str, null_values: Collection[str] = ("",)) -> Callable[[Any], Any]:
    """``canonical_value`` for one column type and null values, prepared once (serving reads every value of
    every request with it)."""
    read = _READERS[col_type]
    nulls = frozenset(null_values)

    def canonical(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return None if value in nulls else read(value)
        if kind is float:
            return None if value != value else read(value)  # NaN is missing
        if kind is int or kind is bool:
            return read(value)
        if value is None:
            return None
        # subclasses (numpy's float64 is a float) as their plain value; lists and objects are never values
        for plain in (bool, int, float, str):
            if isinstance(value, plain):
                return canonical(plain(value))
        raise Unreadable(value, col_type)

    return canonical


@lru_cache(maxsize=64)
def _reader(col_type: str, null_values: frozenset[str]) -> Callable[[Any], Any]:
    return value_reader(col_type, null_values)


def canonical_value(value: Any, col_type: str, null_values: Collection[str] = ("",)) -> Any:
    """``value`` (a JSON value: text, number, boolean or null) as validation reads it into a column of contract
    type ``col_type``: an int, float, bool, ``datetime`` (aware, UTC), or text (a category's canonical text);
    None when it is missing (null, NaN, or a text in ``null_values``). ``Unreadable`` when it cannot be read."""
    return _reader(col_type, frozenset(null_values))(value)
