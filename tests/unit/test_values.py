"""One rule for a value, offline and online: ``canonical_value`` (what serving applies to a request's JSON values)
reads each value exactly as validation reads the same value in an upload: a text as the CSV cell holding it, a
number or a boolean as a Parquet value (a column whose contract says ``coerce: true``)."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slipway.domain.coercion import coerce_column
from slipway.domain.tables import read_upload
from slipway.domain.validation import validate_table
from slipway.domain.values import Unreadable, canonical_value
from slipway.spec import DataContract

# CSV cells a data engineer's files hold, for each contract type: the readable, the odd and the wrong.
CELLS: dict[str, list[str]] = {
    "int": ["4", "-4", " 7 ", "+3", "4.0", "4.", "1e3", "4.5", "nan", "NaN", "inf", "true", "TRUE", "yes", "x", "",
            "99999999999999999999", "9223372036854775807", "-9223372036854775808", "12abc", "2024-01-01", "20240101"],
    "float": ["4", "4.25", "-0.5", ".5", "5.", "1e-3", "1E3", " 2.5 ", "nan", "NaN", "inf", "-Infinity", "true",
              "False", "yes", "x", "", "2024-01-01", "99999999999999999999"],
    "bool": ["true", "True", "TRUE", "false", "t", "f", "yes", "no", "Y", "n", "1", "0", "1.0", "0.0", "2", "0.5",
             "nan", " yes ", "x", "", "2024-01-01"],
    "timestamp": ["2024-01-01", "2024-01-01 10:00", "2024-01-01T10:00:00", "2024-01-01T10:00:00Z",
                  "2024-01-01 10:00:00+02:00", "2024-01-01T10:00:00.5-05:30", "2024-01-01T10:00:00.123456789",
                  "2024-02-30", "2024-13-01", "20240101", "2024-W01-1", "2024-01-01T10", "yesterday", "1700000000",
                  "", "x"],
    "category": ["4.0", "4", "2.50", "1e1", "007", "-0", "Adelie", " a ", "nan", "true", "4.0e0", ""],
    "string": ["4.0", "007", " a ", "", "x", "true"],
}  # fmt: skip
# JSON numbers and booleans, as a Parquet column holds them (int64, float64, bool, uint64 past int64). Not -0.0:
# validation's bool check hashes it apart from 0.0 (Arrow's is_in) and refuses it; serving reads it as false.
TYPED: list[Any] = [4, -4, 0, 1, 4.0, 4.5, 1e20, float("nan"), float("inf"), True, False, 2**63, -(2**63)]


def _contract(col_type: str, coerce: bool = False) -> DataContract:
    columns = [
        {"name": "x", "type": col_type, "nullable": True, "coerce": coerce},
        {"name": "y", "type": "int"},
    ]
    return DataContract.model_validate({"columns": columns, "target": "y"})


def _validated(table: pa.Table, contract: DataContract, stored_types: bool) -> tuple[bool, Any]:
    """(readable, value) of the table's one value of ``x`` as validation reads it."""
    typed, report = validate_table(table, contract, stored_types=stored_types)
    assert report.checks <= {("x", "type")}, report.to_dict()
    return ("x", "type") not in report.checks, typed.column("x")[0].as_py()


def _served(value: Any, col_type: str) -> tuple[bool, Any]:
    try:
        return True, canonical_value(value, col_type)
    except Unreadable:
        return False, None


def _same(a: tuple[bool, Any], b: tuple[bool, Any]) -> bool:
    if isinstance(a[1], float) and isinstance(b[1], float) and math.isnan(a[1]) and math.isnan(b[1]):
        return a[0] == b[0]
    return a == b and type(a[1]) is type(b[1])


@pytest.mark.parametrize(("col_type", "cell"), [(t, c) for t, cells in CELLS.items() for c in cells])
def test_a_text_reads_as_its_csv_cell(col_type: str, cell: str) -> None:
    # GIVEN a CSV upload whose column holds the cell (its type inferred by the CSV reader, as for any upload)
    contract = _contract(col_type)
    table = read_upload(f"x,y\n{cell},1\n".encode(), "upload.csv", contract=contract)
    # WHEN validation reads it, and serving reads the same text sent as a JSON string
    # THEN both accept or refuse it, and read it as the same value of the same type
    assert _served(cell, col_type) == _validated(table, contract, stored_types=False)


@pytest.mark.parametrize(("col_type", "cell"), [(t, c) for t, cells in CELLS.items() for c in cells])
def test_a_text_validation_reads_in_a_column_of_text_reads_alike(col_type: str, cell: str) -> None:
    # GIVEN the same cell in a column the CSV reader keeps as text (another row holds text there)
    text = pa.chunked_array([[cell or None]], pa.string())
    col, failed = coerce_column(text, col_type)
    # WHEN validation reads it THEN what it accepts, serving accepts as the same value
    if failed is None or not failed[0]:
        assert _served(cell, col_type) == (True, col[0].as_py())


@pytest.mark.parametrize("col_type", ["int", "float", "bool", "category", "timestamp"])
@pytest.mark.parametrize("value", TYPED, ids=repr)
def test_a_json_number_or_boolean_reads_as_a_parquet_value(col_type: str, value: Any) -> None:
    # GIVEN a Parquet upload whose column holds the value (converted as the column's coerce: true asks)
    sink = io.BytesIO()
    stored = pa.array([value], pa.uint64() if isinstance(value, int) and value >= 2**63 else None)
    pq.write_table(pa.table({"x": stored, "y": [1]}), sink)
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    # WHEN validation reads it, and serving reads it sent as a JSON number or boolean
    # THEN both accept or refuse it, and read it as the same value of the same type (NaN is missing)
    assert _same(_served(value, col_type), _validated(table, _contract(col_type, coerce=True), stored_types=True))


def test_serving_reads_what_validation_reads_and_says_why_not() -> None:
    # GIVEN the values of a survey table whose codes were written 4.0, as clients send them
    # THEN each reads as the curated data holds it
    assert canonical_value(4.0, "category") == canonical_value("4.0", "category") == canonical_value(4, "category")
    assert canonical_value("4.0", "category") == "4"
    assert canonical_value("34.0", "int") == canonical_value(34.0, "int") == 34
    assert canonical_value("True", "bool") is True and canonical_value(1, "bool") is True
    assert canonical_value(" 2.5 ", "float") == 2.5 and canonical_value(True, "float") == 1.0
    assert canonical_value("2024-01-01 10:00+02:00", "timestamp") == datetime(2024, 1, 1, 8, tzinfo=UTC)
    # AND a missing value is None however it is written: null, NaN, or a text the contract lists as missing
    assert [canonical_value(v, "float") for v in (None, float("nan"), "", "nan")] == [None] * 4
    assert canonical_value("NA", "category", null_values=("", "NA")) is None
    assert canonical_value("NA", "category") == "NA"
    # AND a value validation refuses is refused with what was expected
    for value, col_type, expected in [
        ("4.5", "int", "an integer"),
        (1_700_000_000, "timestamp", "an ISO-8601 timestamp"),  # validation reads no epoch numbers either
        ("maybe", "bool", "true or false"),
        (4.0, "string", "a string"),  # a float's text is not known (4.0 or "4"?): send the text
        ([4], "category", "a category"),
    ]:
        with pytest.raises(Unreadable, match=f"expected {expected}, got"):
            canonical_value(value, col_type)
