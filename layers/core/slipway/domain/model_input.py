"""JSON-like rows to onnxruntime inputs with numpy alone, so the infer Lambda loads no pandas or scikit-learn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from slipway.domain.categories import canonical_category
from slipway.domain.timestamps import EPOCH, parse_timestamp

__all__ = ["MISSING_DAYS", "FeatureInput", "InputKind", "input_dtype", "iso_days", "model_input_from_records"]

InputKind = Literal["numeric", "categorical", "timestamp"]
_DTYPES: dict[str, Any] = {"numeric": np.float32, "categorical": object, "timestamp": np.int64}
# A missing timestamp as model input (a missing number is NaN, a missing category ""): the model's fill replaces it.
MISSING_DAYS = int(np.iinfo(np.int64).min)


@dataclass(frozen=True)
class FeatureInput:
    """One model input column: its name and how it is fed (float32, string, or int64 days since 1970-01-01)."""

    name: str
    kind: InputKind
    refuse_missing: bool = False  # the spec's fill is ``refuse``: a missing value is an error, not filled


def input_dtype(feature: FeatureInput) -> Any:
    """The numpy dtype of a model input column, the one its ONNX input expects."""
    return _DTYPES[feature.kind]


def iso_days(value: Any) -> int:
    """Days since 1970-01-01 (floor) of an ISO string, date, datetime or epoch seconds; ``None`` is MISSING_DAYS."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_DAYS
    return (parse_timestamp(value) - EPOCH).days


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _record_value(feature: FeatureInput, value: Any, row: int) -> Any:
    if feature.refuse_missing and _is_missing(value):
        raise ValueError(f"row {row}: column {feature.name!r} is missing, and the model refuses missing values there")
    try:
        if feature.kind == "numeric":
            return np.nan if value is None else float(value)
        if feature.kind == "categorical":
            if value is None:
                return ""
            # numbers as the curated data holds them (1.0 and 1 are "1"); text as sent
            return value if isinstance(value, str) else canonical_category(value)
        return iso_days(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"row {row}: column {feature.name!r}: cannot read {value!r} as {feature.kind}") from exc


def model_input_from_records(records: Sequence[Mapping[str, Any]], inputs: list[FeatureInput]) -> dict[str, np.ndarray]:
    """onnxruntime inputs, one ``(n, 1)`` array per column, from JSON-like rows (timestamps as ISO strings);
    the same conversions as ``slipway.domain.features.model_input_frame``; a missing key counts as null, and
    ValueError names the row and column of a missing value in an input whose fill is ``refuse``."""
    out: dict[str, np.ndarray] = {}
    for feature in inputs:
        values = [_record_value(feature, r.get(feature.name), n) for n, r in enumerate(records)]
        # Python floats (doubles) become float32 by the same rounding as float64 → float32
        out[feature.name] = np.array(values, dtype=input_dtype(feature)).reshape(-1, 1)
    return out
