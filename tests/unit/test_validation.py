"""Contract checks: every check finds its fault with row numbers, and all faults come out at once."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from slipway.domain.digest import sha256_hex
from slipway.domain.tables import canonical_parquet, plain_values, read_upload
from slipway.domain.validation import apply_pii, validate_table
from slipway.errors import DataContractViolation
from slipway.spec import ColumnSpec, DataContract, load_spec
from slipway_cli.samples import CORRUPTIONS, corrupt, make_churn, to_csv_bytes, to_parquet_bytes

CHURN_SPEC = Path(__file__).resolve().parents[2] / "specs" / "churn.yaml"


def contract(*columns: dict[str, Any], **options: Any) -> DataContract:
    """A contract whose target is its first column. The spec refuses a nullable target, but these checks do not
    look at the target: a nullable first column is made so after the spec's checks."""
    first = {**columns[0], "nullable": False}
    checked = DataContract.model_validate({"columns": [first, *columns[1:]], "target": first["name"], **options})
    return checked.model_copy(update={"columns": [ColumnSpec.model_validate(columns[0]), *checked.columns[1:]]})


def failures(table: pa.Table, data: DataContract) -> dict[tuple[str | None, str], tuple[int, list[int]]]:
    _, report = validate_table(table, data)
    return {(f.column, f.check): (f.count, f.examples) for f in report.failures}


def csv(text: str, data: DataContract | None = None) -> pa.Table:
    return read_upload(text.encode(), "upload.csv", contract=data)


# (check, column spec, good values, bad values, expected count, expected example rows)
CASES = [
    ("type", {"name": "n", "type": "int"}, ["1", "+2", " 3 "], ["1", "abc", "2.5", "4", "x"], 3, [1, 2, 4]),
    ("type", {"name": "f", "type": "float"}, ["1.5", "-2e3", "inf"], ["1.5", "one", "1,5"], 2, [1, 2]),
    ("type", {"name": "b", "type": "bool"}, ["true", "No", "1"], ["true", "maybe", "false", "2"], 2, [1, 3]),
    (
        "type",
        {"name": "ts", "type": "timestamp"},
        ["2024-01-01", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00+02:00"],
        ["2024-01-01", "yesterday", "2024-02-30", "2024-13-01T00:00:00Z"],
        3,
        [1, 2, 3],
    ),
    ("not_null", {"name": "n", "type": "int"}, [1, 2, 3], [1, None, 3, None], 2, [1, 3]),
    ("min", {"name": "n", "type": "int", "min": 0, "nullable": True}, [0, 5, None], [0, -1, None, -7], 2, [1, 3]),
    ("max", {"name": "x", "type": "float", "max": 1.0}, [0.5, 1.0], [0.5, 1.5, 1.0, 9.0], 2, [1, 3]),
    ("allowed", {"name": "c", "type": "category", "allowed": ["a", "b"]}, ["a", "b"], ["a", "z", "b", "q"], 2, [1, 3]),
    ("allowed", {"name": "k", "type": "int", "allowed": [0, 1]}, [0, 1, 1], [0, 2, 1, 2], 2, [1, 3]),
    ("unique", {"name": "id", "type": "int", "unique": True}, [3, 1, 2], [7, 8, 7, 9, 8, 7], 3, [2, 4, 5]),
    ("unique", {"name": "s", "type": "string", "unique": True}, ["a", "b"], ["a", "b", "a"], 1, [2]),
    (
        "regex",
        {"name": "s", "type": "string", "regex": r"C\d{3}"},
        ["C001", "C002"],
        ["C001", "C1", "xC002"],
        2,
        [1, 2],
    ),
]


@pytest.mark.parametrize(
    ("check", "column", "good", "bad", "count", "examples"), CASES, ids=[f"{c[0]}-{c[1]['type']}" for c in CASES]
)
def test_each_check_passes_good_data_and_reports_bad_rows(
    check: str, column: dict[str, Any], good: list[Any], bad: list[Any], count: int, examples: list[int]
) -> None:
    # GIVEN a one-column contract
    data = contract(column)

    # WHEN a good column is checked THEN nothing fails
    _, report = validate_table(pa.table({column["name"]: good}), data)
    assert report.ok, report.to_dict()

    # WHEN a bad one is checked THEN exactly that check fails, with its count and first rows
    assert failures(pa.table({column["name"]: bad}), data) == {(column["name"], check): (count, examples)}


def test_missing_and_unexpected_columns() -> None:
    data = contract({"name": "a", "type": "int"}, {"name": "b", "type": "string"})
    assert failures(pa.table({"a": [1], "b": ["x"]}), data) == {}

    found = failures(pa.table({"a": [1], "extra": [2.0]}), data)

    assert found == {("b", "missing_column"): (1, []), ("extra", "unexpected_column"): (1, [])}


def test_missing_column_comes_back_all_null_and_typed() -> None:
    data = contract({"name": "a", "type": "int"}, {"name": "b", "type": "timestamp"})
    typed, _ = validate_table(pa.table({"a": [1, 2]}), data)
    assert typed.schema.names == ["a", "b"]
    assert typed.column("b").type == pa.timestamp("us", tz="UTC") and typed.column("b").null_count == 2


@pytest.mark.parametrize(("rows", "ok"), [(2, False), (3, True), (5, True), (6, False)])
def test_row_count_bounds(rows: int, ok: bool) -> None:
    data = contract({"name": "a", "type": "int"}, min_rows=3, max_rows=5)
    found = failures(pa.table({"a": list(range(rows))}), data)
    assert found == ({} if ok else {(None, "row_count"): (1, [])})


def test_nulls_count_only_for_not_null_never_for_value_checks() -> None:
    # GIVEN a non-nullable column with bounds, allowed values and a regex, and two nulls
    data = contract({"name": "c", "type": "string", "allowed": ["a1", "b2"], "regex": "[a-z][0-9]"})

    # THEN the nulls are reported once, as not_null
    assert failures(pa.table({"c": ["a1", None, "b2", None]}), data) == {("c", "not_null"): (2, [1, 3])}


def test_unreadable_values_are_type_failures_not_nulls() -> None:
    # GIVEN an int column holding a null and a word WHEN checked
    data = contract({"name": "n", "type": "int", "min": 0})
    typed, report = validate_table(pa.table({"n": ["5", None, "abc", "-1"]}), data)

    # THEN the word is a type failure, the null a not_null failure, -1 a min failure
    assert {(f.check, f.count, tuple(f.examples)) for f in report.failures} == {
        ("type", 1, (2,)),
        ("not_null", 1, (1,)),
        ("min", 1, (3,)),
    }
    assert typed.column("n").to_pylist() == [5, None, None, -1]


def test_table_is_cast_to_the_contract_in_contract_order() -> None:
    data = contract(
        {"name": "ts", "type": "timestamp"},
        {"name": "n", "type": "int"},
        {"name": "f", "type": "float", "nullable": True},
        {"name": "c", "type": "category"},
        {"name": "b", "type": "bool"},
    )
    table = csv("b,c,f,n,ts\ntrue,007,1.5,3.0,2024-05-01 12:00:00+02:00\nfalse,x,nan,4,2024-05-02\n", data)

    typed, report = validate_table(table, data)

    assert report.ok, report.to_dict()
    assert typed.schema == pa.schema(
        [
            ("ts", pa.timestamp("us", tz="UTC")),
            ("n", pa.int64()),
            ("f", pa.float64()),
            ("c", pa.dictionary(pa.int32(), pa.string())),  # canonical text, each distinct value once
            ("b", pa.bool_()),
        ]
    )
    assert typed.column("ts").to_pylist() == [datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)]
    assert typed.column("c").to_pylist() == ["007", "x"]  # text stays text: leading zeros kept
    assert typed.column("f").to_pylist() == [1.5, None]  # NaN means missing
    assert typed.column("n").to_pylist() == [3, 4]


def test_timestamp_bounds_accept_iso_text() -> None:
    data = contract({"name": "ts", "type": "timestamp", "min": "2024-01-01", "max": "2024-12-31T23:59:59Z"})
    table = pa.table({"ts": pa.array([datetime(2023, 12, 31), datetime(2024, 6, 1), datetime(2025, 1, 1)])})
    assert failures(table, data) == {("ts", "min"): (1, [0]), ("ts", "max"): (1, [2])}


def test_category_checks_read_parquet_dictionaries() -> None:
    # GIVEN a category column that arrives dictionary-encoded, as pandas categories do in Parquet
    column = pa.chunked_array([pa.array(["a", "b", "zz", None, "a"]).dictionary_encode()])
    data = contract({"name": "c", "type": "category", "allowed": ["a", "b"], "regex": "[ab]", "nullable": True})

    typed, report = validate_table(pa.table({"c": column}), data)

    assert {(f.check, f.count, tuple(f.examples)) for f in report.failures} == {
        ("allowed", 1, (2,)),
        ("regex", 1, (2,)),
    }
    assert typed.column("c").type == pa.dictionary(pa.int32(), pa.string())
    assert typed.column("c").to_pylist() == ["a", "b", "zz", None, "a"]


def test_pii_values_never_appear_in_messages() -> None:
    data = contract({"name": "email", "type": "string", "pii": "hash", "regex": "[^@]+@[^@]+"})
    _, report = validate_table(pa.table({"email": ["ann@example.com", "secret-person"]}), data)
    assert report.failures[0].check == "regex"
    assert "secret" not in report.failures[0].message


def test_single_threaded_run_gives_the_same_report() -> None:
    churn = load_spec(CHURN_SPEC.read_text()).data
    table = read_upload(to_parquet_bytes(corrupt(make_churn(2_000, seed=3), seed=3)), "x.parquet")
    assert validate_table(table, churn)[1] == validate_table(table, churn, max_workers=1)[1]


@pytest.mark.parametrize(("encode", "key"), [(to_csv_bytes, "churn/bad.csv"), (to_parquet_bytes, "churn/bad.parquet")])
def test_corrupted_churn_sample_reports_every_fault_at_once(encode: Any, key: str) -> None:
    # GIVEN the churn contract and a sample broken in six different ways
    churn = load_spec(CHURN_SPEC.read_text()).data
    body = encode(corrupt(make_churn(n_rows=3_000, seed=5), seed=5))

    # WHEN it is read and validated
    _, report = validate_table(read_upload(body, key, contract=churn), churn)

    # THEN every fault is in one report, with the number of rows each broke
    assert not report.ok
    assert {(f.column, f.check): f.count for f in report.failures} == CORRUPTIONS
    summary = report.to_dict()
    assert summary["rows"] == 3_000 and summary["bad_values"] == sum(CORRUPTIONS.values())
    assert all(len(f["examples"]) == min(f["count"], 5) for f in summary["failures"] if f["check"] != "missing_column")


def test_apply_pii_hashes_and_drops() -> None:
    # GIVEN a contract hashing emails and dropping phone numbers
    data = contract(
        {"name": "id", "type": "int"},
        {"name": "email", "type": "string", "pii": "hash", "nullable": True},
        {"name": "phone", "type": "string", "pii": "drop"},
    )
    table = pa.table({"id": [1, 2, 3], "email": ["a@x.io", None, "a@x.io"], "phone": ["1", "2", "3"]})

    # WHEN PII is applied with a salt
    curated = apply_pii(table, data, salt="pepper")

    # THEN phone is gone, equal emails have equal salted digests, nulls stay null
    assert curated.schema.names == ["id", "email"]
    emails = curated.column("email").to_pylist()
    expected = hashlib.sha256(b"peppera@x.io").hexdigest()
    assert emails == [expected, None, expected]
    assert apply_pii(table, data, salt="other").column("email")[0].as_py() != expected
    assert apply_pii(table, data, salt="pepper").equals(curated)


def test_canonical_parquet_is_deterministic() -> None:
    # GIVEN a curated table, and the same rows in many chunks with other schema metadata
    churn = load_spec(CHURN_SPEC.read_text()).data
    raw = pa.Table.from_pandas(make_churn(n_rows=2_000, seed=1), preserve_index=False)
    table = apply_pii(validate_table(raw, churn)[0], churn, salt="s")
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=333)).replace_schema_metadata({"x": "y"})

    # WHEN written canonically twice
    first, second, third = canonical_parquet(table), canonical_parquet(table), canonical_parquet(rechunked)

    # THEN the bytes, and so the dataset version, are identical, and they read back to the same rows
    assert first == second == third
    assert sha256_hex(first) == sha256_hex(third) and len(sha256_hex(first)) == 64
    assert read_upload(first, "v.parquet").equals(plain_values(table))
    assert canonical_parquet(table.slice(1)) != first


def test_read_upload_csv_gzip_and_parquet_agree() -> None:
    churn = load_spec(CHURN_SPEC.read_text()).data
    frame = make_churn(n_rows=1_500, seed=2)
    tables = [
        read_upload(to_csv_bytes(frame), "churn/a.csv", contract=churn),
        read_upload(gzip.compress(to_csv_bytes(frame)), "churn/a.CSV.GZ", contract=churn),
        read_upload(to_parquet_bytes(frame), "churn/a.pq", contract=churn),
    ]
    typed = [validate_table(t, churn) for t in tables]
    assert all(report.ok for _, report in typed)
    csv_rows, gzip_rows, parquet_rows = (plain_values(t) for t, _ in typed)
    assert csv_rows.equals(gzip_rows) and csv_rows.equals(parquet_rows)


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        (b"\x00\x01garbage", "churn/x.parquet", "cannot read the object as Parquet"),
        (b"a,b\n1,2,3\n", "churn/x.csv", "cannot read the object as CSV"),
        (b"not gzip", "churn/x.csv.gz", "cannot read the object as gzip"),
        (b"a,b\n1,2\n", "churn/x.xlsx", "unsupported file type"),
    ],
)
def test_unreadable_upload_is_a_contract_violation(data: bytes, key: str, words: str) -> None:
    with pytest.raises(DataContractViolation) as exc:
        read_upload(data, key)
    [finding] = exc.value.details["failures"]
    assert finding["check"] == "readable" and finding["column"] is None and finding["count"] == 1
    assert words in finding["message"]


def test_unique_ids_repeat_within_and_across_chunks() -> None:
    # GIVEN dense ids (some negative) in three chunks: a value repeated inside a chunk, one across chunks, and one
    # on three rows spread over all of them
    chunks = [[-3, 5, 7, 5, 11], [2, 7, 40, -3], [9, 2, -3, 0]]
    data = contract({"name": "id", "type": "int", "unique": True})
    # WHEN validated THEN every row repeating an earlier row's value is found, in upload order
    table = pa.table({"id": pa.chunked_array(chunks, pa.int64())})
    assert failures(table, data) == {("id", "unique"): (5, [3, 6, 8, 10, 11])}
