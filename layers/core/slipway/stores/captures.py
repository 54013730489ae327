"""A window of captured traffic as columns: every capture and feedback object under the window's daily
partitions parsed by arrow's JSON reader (no per-row Python), normalised to one schema per object, filtered to
one version's production rows, and joined to the latest feedback of each (request id, row)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from slipway import layout
from slipway.domain.profile import category_key
from slipway.objects import S3Object
from slipway.ports import Deps

__all__ = [
    "Labelled",
    "Window",
    "as_type",
    "days_between",
    "field_of",
    "json_objects",
    "label",
    "latest_feedback",
    "read_window",
    "served_table",
]


def days_between(start: str, end: str) -> list[str]:
    """The UTC days (``YYYY-MM-DD``) from ``start`` to ``end`` (ISO times), both included."""
    first, last = datetime.fromisoformat(start).date(), datetime.fromisoformat(end).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class Window:
    """The production rows of one version in the window: feature columns (float64 with NaN, or arrow text), the
    served score, and for rows with feedback the label codes / values the performance check needs."""

    rows: int
    numeric: dict[str, np.ndarray]
    categorical: dict[str, pa.Array]
    scores: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray
    positive_score: np.ndarray
    p_true: np.ndarray


def json_objects(deps: Deps, prefixes: Sequence[str], bucket: str | None = None) -> Iterator[pa.Table]:
    """Each JSON-lines object under the prefixes of the lake (this environment's, or ``bucket``) as a table."""
    bucket = bucket or deps.settings.lake_bucket
    for prefix in prefixes:
        for key in deps.store.list_keys(bucket, prefix):
            data = deps.store.get_bytes(S3Object(bucket=bucket, key=key))
            if data.strip():
                yield pj.read_json(io.BytesIO(data))


def field_of(table: pa.Table, *path: str) -> pa.ChunkedArray | None:
    """A column or a nested struct field (``inputs``, ``x``); None when absent."""
    if path[0] not in table.schema.names:
        return None
    column = table.column(path[0])
    for name in path[1:]:
        if not pa.types.is_struct(column.type) or column.type.get_field_index(name) < 0:
            return None
        column = pc.struct_field(column, name)
    return column


def as_type(column: pa.ChunkedArray | None, kind: pa.DataType, rows: int) -> pa.ChunkedArray:
    if column is None or pa.types.is_null(column.type):
        return pa.chunked_array([pa.nulls(rows, kind)])
    if pa.types.is_boolean(column.type) and pa.types.is_string(kind):
        return pc.if_else(column, "true", "false")  # category_key's spelling of booleans
    return column.cast(kind, safe=False)


def _normalise(
    table: pa.Table, features: Mapping[str, str], labels: Sequence[str] | None, regression: bool
) -> pa.Table | None:
    """One capture object's rows in one schema (other kinds dropped), or None without captures."""
    rows = table.num_rows
    kind = field_of(table, "kind")
    if kind is not None:
        table = table.filter(pc.fill_null(pc.equal(kind, "captures"), False))
        rows = table.num_rows
    if rows == 0 or field_of(table, "at") is None:
        return None
    columns: dict[str, pa.ChunkedArray] = {
        "version": as_type(field_of(table, "version"), pa.int64(), rows),
        "variant": as_type(field_of(table, "variant"), pa.string(), rows),
        "request_id": as_type(field_of(table, "request_id"), pa.string(), rows),
        "row": pc.fill_null(as_type(field_of(table, "row"), pa.int64(), rows), 0),
        "entity_id": as_type(field_of(table, "entity_id"), pa.string(), rows),
        "at": as_type(field_of(table, "at"), pa.string(), rows),
        "error": as_type(field_of(table, "error"), pa.string(), rows),
        "prediction": as_type(field_of(table, "prediction"), pa.float64() if regression else pa.string(), rows),
    }
    for name, feature_kind in features.items():
        columns[f"f:{name}"] = as_type(
            field_of(table, "inputs", name), pa.float64() if feature_kind == "numeric" else pa.string(), rows
        )
    for label in labels or []:
        columns[f"p:{label}"] = as_type(field_of(table, "probabilities", label), pa.float64(), rows)
    return pa.table(columns)


def latest_feedback(
    deps: Deps, prefixes: Sequence[str], regression: bool, bucket: str | None = None
) -> pa.Table | None:
    parts = []
    for table in json_objects(deps, prefixes, bucket):
        kind = field_of(table, "kind")
        if kind is not None:
            table = table.filter(pc.fill_null(pc.equal(kind, "feedback"), False))
        rows = table.num_rows
        if rows == 0 or field_of(table, "actual") is None or field_of(table, "request_id") is None:
            continue
        parts.append(
            pa.table(
                {
                    "request_id": as_type(field_of(table, "request_id"), pa.string(), rows),
                    "row": pc.fill_null(as_type(field_of(table, "row"), pa.int64(), rows), 0),
                    "actual": as_type(field_of(table, "actual"), pa.float64() if regression else pa.string(), rows),
                    "at": as_type(field_of(table, "at"), pa.string(), rows),
                }
            )
        )
    if not parts:
        return None
    feedback = pa.concat_tables(parts).drop_null()
    # the latest answer for each (request id, row)
    ordered = feedback.sort_by([("request_id", "ascending"), ("row", "ascending"), ("at", "ascending")])
    return ordered.group_by(["request_id", "row"], use_threads=False).aggregate([("actual", "last")])


def _codes(values: pa.ChunkedArray, labels: Sequence[Any]) -> np.ndarray:
    """Label codes of text values (``str(label)`` or ``category_key(label)``); -1 for anything else."""
    spellings = [(str(label), code) for code, label in enumerate(labels)]
    spellings += [(category_key(label), code) for code, label in enumerate(labels)]
    texts, codes = pa.array([s for s, _ in spellings]), np.array([c for _, c in spellings] + [-1])
    found = pc.fill_null(pc.index_in(values, value_set=texts), len(spellings)).to_numpy()
    return np.asarray(codes[found])


def served_table(
    deps: Deps,
    model: str,
    start: str,
    end: str,
    features: Mapping[str, str],
    labels: Sequence[Any] | None,
) -> pa.Table:
    """Every captured row of the model served in [start, end], of any version and variant, failed rows included:
    ``version``, ``variant``, ``request_id``, ``row``, ``at``, ``error``, ``prediction``, the feature columns
    (``f:<name>``) and, for classification, each label's probability (``p:<label>``)."""
    regression = labels is None
    keys = [str(label) for label in labels] if labels else None
    parts = [
        part
        for table in json_objects(deps, [layout.captures_prefix(model, d) for d in days_between(start, end)])
        if (part := _normalise(table, features, keys, regression)) is not None
    ]
    if not parts:
        empty = _normalise(pa.table({"at": pa.array([""], pa.string())}), features, keys, regression)
        assert empty is not None
        return empty.slice(0, 0)
    served = pa.concat_tables(parts)
    within = pc.and_(pc.greater_equal(served["at"], start), pc.less_equal(served["at"], end))
    return served.filter(pc.fill_null(within, False))


@dataclass(frozen=True)
class Labelled:
    """The served rows that have feedback, as label codes (classification: ``truth``/``predicted``, the positive
    class's probability and the true class's) or values (regression: ``truth``/``predicted``), with the captured
    rows they came from (``rows``: the joined table, failed rows and unreadable labels left out)."""

    truth: np.ndarray
    predicted: np.ndarray
    positive_score: np.ndarray
    p_true: np.ndarray
    rows: pa.Table


def label(served: pa.Table, feedback: pa.Table | None, labels: Sequence[Any] | None) -> Labelled:
    """The served rows (failed ones are skipped) joined to the latest feedback of each (request id, row)."""
    empty = np.zeros(0)
    served = served.filter(pc.is_null(served["error"])) if served.num_rows else served
    if not served.num_rows or feedback is None:
        return Labelled(empty, empty, empty, empty, served.slice(0, 0))
    joined = served.join(feedback, keys=["request_id", "row"], join_type="inner", use_threads=False)
    if labels is None:
        truth = joined["actual_last"].to_numpy().astype(np.float64)
        predicted = joined["prediction"].to_numpy().astype(np.float64)
        ok = np.isfinite(truth) & np.isfinite(predicted)
        return Labelled(truth[ok], predicted[ok], predicted[ok], np.zeros(int(ok.sum())), joined.filter(pa.array(ok)))
    keys = [str(label) for label in labels]
    truth, predicted = _codes(joined["actual_last"], labels), _codes(joined["prediction"], labels)
    probabilities = np.column_stack([joined[f"p:{k}"].to_numpy().astype(np.float64) for k in keys])
    ok = (truth >= 0) & (predicted >= 0) & np.isfinite(probabilities).all(axis=1)
    truth, predicted, probabilities = truth[ok], predicted[ok], probabilities[ok]
    p_true = np.take_along_axis(probabilities, truth[:, None], axis=1)[:, 0] if truth.size else np.zeros(0)
    return Labelled(truth, predicted, probabilities[:, -1], p_true, joined.filter(pa.array(ok)))


def read_window(
    deps: Deps,
    model: str,
    version: int,
    start: str,
    end: str,
    features: Mapping[str, str],
    labels: Sequence[Any] | None,
) -> Window:
    """The version's production rows served in [start, end] (failed rows left out), with their feedback."""
    regression = labels is None
    served = served_table(deps, model, start, end, features, labels)
    mine = pc.and_(pc.equal(served["version"], version), pc.equal(served["variant"], "production"))
    served = served.filter(pc.fill_null(pc.and_(mine, pc.is_null(served["error"])), False))
    rows = served.num_rows
    numeric = {
        n: served[f"f:{n}"].to_numpy().astype(np.float64) if rows else np.zeros(0)
        for n, k in features.items()
        if k == "numeric"
    }
    categorical = {
        n: served[f"f:{n}"].combine_chunks() if rows else pa.array([], pa.string())
        for n, k in features.items()
        if k != "numeric"
    }
    if regression:
        scores = served["prediction"].to_numpy().astype(np.float64) if rows else np.zeros(0)
    else:
        last = str(labels[-1])  # type: ignore[index]  # classification: labels are given
        scores = served[f"p:{last}"].to_numpy().astype(np.float64) if rows else np.zeros(0)
    empty = np.zeros(0)
    window = Window(rows, numeric, categorical, scores, empty, empty, empty, empty)
    feedback = latest_feedback(
        deps, [layout.feedback_prefix(model, d) for d in days_between(start, deps.now_iso())], regression
    )
    if not rows or feedback is None:
        return window
    found = label(served, feedback, labels)
    return Window(rows, numeric, categorical, scores, found.truth, found.predicted, found.positive_score, found.p_true)
