"""Entity keys and feature values as the online store keeps them and a request sends them, without pyarrow (the
inference function reads them): one text per entity key, one JSON object per entity's values."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slipway.domain.categories import canonical_category

__all__ = ["encode_values", "entity_text", "json_value"]


def entity_text(values: Sequence[Any], types: Sequence[str]) -> str:
    """The text of an entity key (one or more columns) in the online store, the same for a value read from an
    upload and one sent in a request: ints in decimal (``7``, ``"7"`` and ``7.0`` alike), categories as the
    curated data holds them, strings as they are; several columns as a JSON list."""
    parts: list[str] = []
    for value, kind in zip(values, types, strict=True):
        if kind == "int":
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not float(number).is_integer():
                raise ValueError(f"{value!r} is not an integer")
            parts.append(str(int(number)))
        elif kind == "category":
            parts.append(value if isinstance(value, str) else canonical_category(value))
        else:
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not text")
            parts.append(value)
    return parts[0] if len(parts) == 1 else json.dumps(parts, separators=(",", ":"), ensure_ascii=False)


def json_value(value: Any) -> Any:
    """A curated value as a request carries it: timestamps as ISO text, NaN as null."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def encode_values(row: Mapping[str, Any], features: Sequence[str]) -> str:
    return json.dumps({f: json_value(row[f]) for f in features}, separators=(",", ":"), allow_nan=False)
