"""Scoring a whole Arrow table with a registered version's ONNX session: the part of the data contract the
model reads (checked vectorised by ``validation.validate_table``), the feed built column by column, and the
predictions table written beside the input row's position and entity id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from slipway.domain.decision import decide
from slipway.domain.model_input import FeatureInput
from slipway.domain.table_input import model_input_from_table
from slipway.spec.data import DataContract

__all__ = ["CHUNK_ROWS", "Scores", "predictions_table", "probability_column", "score_table", "scoring_contract"]

CHUNK_ROWS = 100_000  # rows per onnxruntime call: bounds the string arrays a categorical feed holds at once
ROW = "row"
SOURCE = "source"
PREDICTION = "prediction"


def scoring_contract(contract: DataContract, inputs: Sequence[str], entity_present: bool) -> DataContract:
    """The contract a part is checked against: the columns the model reads, plus the entity id when the part
    has one (nullable, not unique: a batch may score an entity twice). No row-count bounds (they are for
    training data), and nothing else the contract declares (target, PII, excluded columns) is required."""
    keep = [c for c in contract.columns if c.name in inputs]
    if entity_present and contract.entity_id is not None and contract.entity_id not in inputs:
        entity = contract.column(contract.entity_id)
        keep.append(entity.model_copy(update={"nullable": True, "unique": False}))
    # model_copy skips validation on purpose: the target need not be among the checked columns.
    return contract.model_copy(update={"columns": keep, "min_rows": 0, "max_rows": None})


@dataclass(frozen=True)
class Scores:
    predictions: np.ndarray  # class labels (classification) or values (regression), one per row
    probabilities: np.ndarray | None  # (rows, classes) in the order of the labels; None for regression


def score_table(
    session: Any,
    task: str,
    labels: Sequence[Any] | None,
    inputs: list[FeatureInput],
    table: pa.Table,
    chunk_rows: int = CHUNK_ROWS,
    threshold: float | None = None,
    positive: int = 1,
) -> Scores:
    """Run the ONNX session over every row of a contract-typed table, ``chunk_rows`` at a time: the same
    outputs and the same choice of class (``decide``: argmax over the labels' probabilities, or the version's
    decision threshold on the ``positive`` column) as a one-row request."""
    predicted: list[np.ndarray] = [np.zeros(0, np.int64 if task == "classification" else np.float64)]
    probabilities: list[np.ndarray] = [np.zeros((0, len(labels or ())), np.float64)]
    for start in range(0, table.num_rows, chunk_rows):
        feed = model_input_from_table(table.slice(start, chunk_rows), inputs)
        if task == "classification":
            probability = np.asarray(session.run(["probabilities"], feed)[0], dtype=np.float64)
            probabilities.append(probability)
            predicted.append(decide(probability, positive, threshold))
        else:
            predicted.append(np.asarray(session.run(None, feed)[0], dtype=np.float64).reshape(-1))
    if task != "classification":
        return Scores(np.concatenate(predicted), None)
    assert labels is not None
    chosen = np.concatenate(predicted)
    return Scores(np.asarray(list(labels), dtype=object)[chosen], np.concatenate(probabilities))


def probability_column(label: Any) -> str:
    return f"probability_{label}"


def _label_array(values: np.ndarray, labels: Sequence[Any]) -> pa.Array:
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        return pa.array(values.astype(np.int64), pa.int64())
    if all(isinstance(v, bool) for v in labels):
        return pa.array(values.astype(bool), pa.bool_())
    return pa.array([str(v) for v in values], pa.string())


def predictions_table(
    source: str,
    scores: Scores,
    labels: Sequence[Any] | None,
    entity: tuple[str, pa.ChunkedArray] | None,
    metadata: Mapping[str, str],
) -> pa.Table:
    """``source`` (the input part), ``row`` (its 0-based position there), the entity id if the part has one,
    ``prediction``, and ``probability_<label>`` per class for classification; ``metadata`` in the schema."""
    n = len(scores.predictions)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        SOURCE: pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([source])),
        ROW: pa.array(np.arange(n, dtype=np.int64)),
    }
    if entity is not None:
        columns[entity[0]] = entity[1]
    if scores.probabilities is None:
        columns[PREDICTION] = pa.array(scores.predictions, pa.float64())
    else:
        assert labels is not None
        columns[PREDICTION] = _label_array(scores.predictions, labels)
        for k, label in enumerate(labels):
            columns[probability_column(label)] = pa.array(scores.probabilities[:, k], pa.float64())
    table = pa.table(columns)
    return table.replace_schema_metadata({f"slipway.{k}": v for k, v in metadata.items()})
