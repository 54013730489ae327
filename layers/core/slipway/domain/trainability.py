"""Can this table train at all? Checked at validation, before any training, so that a file that no
model can learn from is quarantined with a report instead of failing (or succeeding meaninglessly)
three steps later: a classification target needs two classes and enough rows of each class for every
part of the split; a regression target needs variance; the split needs rows in every part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.findings import MAX_EXAMPLES, CheckFailure

__all__ = ["MIN_TRAIN_ROWS", "SplitShape", "trainability_failures"]

MIN_TRAIN_ROWS = 2  # a model is fitted on at least two rows
MAX_CLASSES_NAMED = 10


@dataclass(frozen=True)
class SplitShape:
    """What the split asks of the rows: the fractions of the validation and test parts."""

    valid: float
    test: float

    @property
    def parts(self) -> list[str]:
        return ["train", *(["valid"] if self.valid > 0 else []), *(["test"] if self.test > 0 else [])]

    def sizes(self, rows: int) -> dict[str, int]:
        """Rows per part as the split computes them (test and valid rounded, train the rest)."""
        test, valid = round(rows * self.test), round(rows * self.valid)
        return {"train": rows - test - valid, "valid": valid, "test": test}

    def fits(self, rows: int) -> bool:
        sizes = self.sizes(rows)
        return sizes["train"] >= MIN_TRAIN_ROWS and all(sizes[p] >= 1 for p in self.parts)

    def min_rows(self) -> int:
        """The fewest rows that give every part of the split a row and train at least two."""
        rows = MIN_TRAIN_ROWS
        while not self.fits(rows):
            rows += 1
        return rows


def _label(value: object, shown: bool) -> str:
    return repr(value) if shown else "<masked>"


def trainability_failures(
    target_name: str, target: pa.ChunkedArray, task: str, split: SplitShape, *, show_values: bool = True
) -> list[CheckFailure]:
    """Every reason ``target`` (nulls already removed or reported) cannot train a ``task`` model under
    ``split``. Classes are compared as values, whatever their type (ints, text, bools), for any number of
    them. ``show_values`` False (a PII column) keeps target values out of the messages."""
    failures: list[CheckFailure] = []
    values = target.drop_null() if target.null_count else target
    rows = len(values)
    if not split.fits(rows):
        sizes = split.sizes(rows)
        shape = ", ".join(f"{part} {sizes[part]}" for part in split.parts)
        failures.append(
            CheckFailure(
                None,
                "split_rows",
                rows,
                [],
                f"{rows} rows with a target cannot be split ({shape}): every part needs a row and train "
                f"{MIN_TRAIN_ROWS}; at least {split.min_rows()} rows are needed",
            )
        )
    if rows == 0:
        return failures
    if task == "classification":
        failures.extend(_class_failures(target_name, target, split, show_values))
    elif _constant(values):
        shown = _label(values[0].as_py(), show_values)
        failures.append(
            CheckFailure(
                target_name,
                "target_variance",
                rows,
                [],
                f"the regression target is {shown} in every one of {rows} rows: there is nothing to learn",
            )
        )
    return failures


def _constant(values: pa.ChunkedArray) -> bool:
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        extremes = pc.min_max(values)
        return bool(extremes["min"].as_py() == extremes["max"].as_py())
    return len(pc.unique(values)) < 2


def _class_failures(target_name: str, target: pa.ChunkedArray, split: SplitShape, shown: bool) -> list[CheckFailure]:
    column = target.cast(target.type.value_type) if pa.types.is_dictionary(target.type) else target
    counts = pc.value_counts(column.drop_null()).to_pylist()  # [{"values": label, "counts": n}], any label type
    labels = [c["values"] for c in counts]
    if len(labels) < 2:
        only = f" (every row is {_label(labels[0], shown)})" if labels else ""
        return [
            CheckFailure(
                target_name,
                "target_classes",
                len(column) - column.null_count,
                [],
                f"the classification target has {len(labels)} class{'' if len(labels) == 1 else 'es'}{only}: "
                "a classifier needs at least 2",
            )
        ]
    need = len(split.parts)
    rare = sorted((c for c in counts if c["counts"] < need), key=lambda c: (c["counts"], str(c["values"])))
    if not rare:
        return []
    rows = _rows_of(column, [c["values"] for c in rare])
    named = ", ".join(f"{_label(c['values'], shown)} ({c['counts']})" for c in rare[:MAX_CLASSES_NAMED])
    more = f" and {len(rare) - MAX_CLASSES_NAMED} more" if len(rare) > MAX_CLASSES_NAMED else ""
    return [
        CheckFailure(
            target_name,
            "class_rows",
            int(rows.size),
            [int(r) for r in rows[:MAX_EXAMPLES]],
            f"{len(rare)} of {len(labels)} classes have fewer than {need} rows, one for each part of the split "
            f"({'/'.join(split.parts)}): {named}{more}",
        )
    ]


def _rows_of(column: pa.ChunkedArray, labels: Sequence[object]) -> np.ndarray:
    mask = pc.is_in(column, value_set=pa.array(labels, column.type))
    return np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool))
