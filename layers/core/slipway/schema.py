"""The pydantic base every spec section and step contract shares, and the one way a pydantic
error becomes a list of ``{"field", "message"}`` that names each field at fault."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Frozen", "field_errors"]


class Frozen(BaseModel):
    """Immutable, and unknown fields are errors (a typo in a spec or an event is never ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def field_errors(error: ValidationError, root: str = "<root>") -> list[dict[str, Any]]:
    """Each pydantic error as ``{"field": "a.b.0", "message": ...}``; ``root`` names an error on the whole."""
    return [
        {
            "field": ".".join(str(part) for part in e["loc"]) or root,
            "message": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in error.errors(include_url=False)
    ]
