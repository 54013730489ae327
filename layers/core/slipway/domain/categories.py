"""Category text and class labels with the standard library alone, shared by the spec, validation and the
inference path: one rule turns a value into a category, and model outputs back into the target's labels."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["DECIMAL_PATTERN", "Label", "canonical_category", "label_key", "label_predictions"]

Label = bool | int | str  # a classification label: the target's values keep their type
# Text that a float column writes (a fraction or an exponent): read as that number in category columns.
# Anchored and RE2-compatible, so Arrow's regex kernels can find such values too.
DECIMAL_PATTERN = r"^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


def canonical_category(value: str | int | float | bool) -> str:
    """The text of a category value whatever the file format: numbers in their shortest form (``1.0``, ``"1.0"``
    and ``1`` are all ``"1"``; ``2.50`` is ``"2.5"``), booleans ``true``/``false``, other text as written
    (``"007"`` keeps its zeros). CSV and Parquet of the same data then meet one ``allowed`` list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            return value
        value = float(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def label_key(label: Label) -> str:
    """A label as a JSON object key: text as is, ``true``/``false``, integers in decimal."""
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


def label_predictions(probabilities: Any, labels: Sequence[Label]) -> list[dict[str, Any]]:
    """Per row, the predicted label (the most probable class, ties to the first, as scikit-learn predicts) and
    the probability of every label. ``probabilities`` is the model's ``(n, k)`` output, columns in the order of
    ``labels`` (the version's ``labels`` field)."""
    rows = [list(map(float, row)) for row in probabilities]
    if rows and len(rows[0]) != len(labels):
        raise ValueError(f"the model gives {len(rows[0])} class probabilities for {len(labels)} labels")
    keys = [label_key(label) for label in labels]
    out = []
    for row in rows:
        best = max(range(len(row)), key=lambda j: (row[j], -j))
        out.append({"label": labels[best], "probabilities": dict(zip(keys, row, strict=True))})
    return out
