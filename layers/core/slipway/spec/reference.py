"""The JSON Schema of model specs, generated from the pydantic models: committed as docs/spec.schema.json so
that editors validate specs (a test keeps the file equal to this output), and printed by `slipway spec schema`."""

from __future__ import annotations

import json
from typing import Any

from slipway.spec.model import ModelSpec

SCHEMA_ID = "https://slipway.dev/spec.schema.json"


def json_schema() -> dict[str, Any]:
    """The schema of the YAML a user writes (validation mode: defaults are optional)."""
    schema = ModelSpec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    """The schema as the committed file holds it: sorted keys, two-space indent, a final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
