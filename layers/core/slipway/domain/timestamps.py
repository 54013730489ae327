"""Timestamp parsing with the standard library only, so serving reads ISO strings without loading the spec package."""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = ["EPOCH", "parse_timestamp"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(value: float | int | str | datetime | date) -> datetime:
    """Parse an ISO-8601 string, date, datetime or epoch seconds into an aware UTC datetime.

    Same rules as ``slipway.spec.data.parse_timestamp`` (a test pins them equal); kept apart because importing
    the spec package builds every spec model, which an inference cold start does not need.
    """
    if isinstance(value, bool):
        raise ValueError("a timestamp bound cannot be a boolean")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
