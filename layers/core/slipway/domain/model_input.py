"""JSON-like rows to onnxruntime inputs with numpy alone, so the infer Lambda loads no pandas or scikit-learn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from slipway.domain.timestamps import EPOCH, parse_timestamp

__all__ = ["FeatureInput", "InputKind", "input_dtype", "iso_days", "model_input_from_records"]

InputKind = Literal["numeric", "categorical", "timestamp"]
_DTYPES: dict[str, Any] = {"numeric": np.float32, "categorical": object, "timestamp": np.int64}


@dataclass(frozen=True)
class FeatureInput:
    """One model input column: its name and how it is fed (float32, string, or int64 days since 1970-01-01)."""

    name: str
    kind: InputKind


def input_dtype(feature: FeatureInput) -> Any:
    """The numpy dtype of a model input column, the one its ONNX input expects."""
    return _DTYPES[feature.kind]


def iso_days(value: Any) -> int:
    """Days since 1970-01-01 (floor) of an ISO string, date, datetime or epoch seconds; ``None`` is day 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return (parse_timestamp(value) - EPOCH).days


def _record_value(feature: FeatureInput, value: Any, row: int) -> Any:
    try:
        if feature.kind == "numeric":
            return np.nan if value is None else float(value)
        if feature.kind == "categorical":
            if value is None:
                return ""
            return ("true" if value else "false") if isinstance(value, bool) else str(value)
        return iso_days(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"row {row}: column {feature.name!r}: cannot read {value!r} as {feature.kind}") from exc


def model_input_from_records(records: Sequence[Mapping[str, Any]], inputs: list[FeatureInput]) -> dict[str, np.ndarray]:
    """onnxruntime inputs, one ``(n, 1)`` array per column, from JSON-like rows (timestamps as ISO strings);
    the same conversions as ``slipway.domain.features.model_input_frame``; a missing key counts as null."""
    out: dict[str, np.ndarray] = {}
    for feature in inputs:
        values = [_record_value(feature, r.get(feature.name), n) for n, r in enumerate(records)]
        if feature.kind == "numeric":
            out[feature.name] = np.asarray(values, dtype=np.float64).astype(np.float32).reshape(-1, 1)
        else:
            out[feature.name] = np.asarray(values, dtype=input_dtype(feature)).reshape(-1, 1)
    return out
