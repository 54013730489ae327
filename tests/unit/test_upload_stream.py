"""An upload validated in parts (CSV blocks, Parquet row groups) gets the report and the curated bytes that
validating it whole gets: same findings, counts, row numbers and messages, same dataset version."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slipway.domain.tables import (
    CANONICAL_ROW_GROUP_SIZE,
    CanonicalParquetWriter,
    canonical_parquet,
    is_typed_format,
    read_upload,
)
from slipway.domain.upload_stream import validate_upload_file
from slipway.domain.validation import apply_pii, validate_table
from slipway.errors import DataContractViolation
from slipway.spec import DataContract, load_spec
from slipway_cli.samples import corrupt, make_churn, to_csv_bytes

CHURN = load_spec((Path(__file__).resolve().parents[2] / "specs" / "churn.yaml").read_text()).data
SALT = "pepper"


def _whole(body: bytes, key: str, contract: DataContract) -> tuple[dict[str, object], bytes | None]:
    """What validate gets reading the upload whole: the report, and the curated bytes when it is ok."""
    typed, report = validate_table(
        read_upload(body, key, contract=contract), contract, stored_types=is_typed_format(key)
    )
    return report.to_dict(), canonical_parquet(apply_pii(typed, contract, SALT)) if report.ok else None


def _streamed(
    body: bytes, key: str, contract: DataContract, tmp_path: Path, **sizes: int
) -> tuple[dict[str, object], bytes | None]:
    """The same upload validated from a file in parts (small parts and spill partitions: many of each)."""
    upload = tmp_path / key.rsplit("/", 1)[-1]
    upload.write_bytes(body)
    result = validate_upload_file(
        upload, key, contract, lambda typed: apply_pii(typed, contract, SALT), tmp_path / "curated.parquet", **sizes
    )
    assert (result.curated is None) == (not result.report.ok)
    return result.report.to_dict(), result.curated.read_bytes() if result.curated else None


def _parquet(frame: pd.DataFrame, row_group_size: int) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, row_group_size=row_group_size)
    return sink.getvalue()


def _with_repeated_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids repeated far apart (another part of the file), and twice in a row."""
    repeated = frame.copy()
    repeated.loc[[2_500, 3_999, 4_000], "customer_id"] = repeated.loc[[7, 1_200, 1_200], "customer_id"].to_numpy()
    return repeated


@pytest.mark.parametrize("key", ["churn/u.csv", "churn/u.csv.gz", "churn/u.parquet"])
@pytest.mark.parametrize("broken", [False, True], ids=["clean", "broken"])
def test_a_file_validated_in_parts_gets_the_whole_file_report_and_curated_bytes(
    key: str, broken: bool, tmp_path: Path
) -> None:
    # GIVEN the churn sample (unique ids, a hashed email, categories), clean or with every fault and repeated ids
    frame = make_churn(n_rows=6_000, seed=3)
    if broken:
        frame = _with_repeated_ids(corrupt(frame))
    text = to_csv_bytes(frame)
    body = {"churn/u.csv": text, "churn/u.csv.gz": gzip.compress(text)}.get(key) or _parquet(frame, 700)

    # WHEN it is validated whole, and in parts of 8 KiB of text or one row group, with 1 KiB per spill partition
    whole = _whole(body, key, CHURN)
    streamed = _streamed(body, key, CHURN, tmp_path, part_bytes=8 * 1024, spill_bytes=1024)

    # THEN the report is the same, finding for finding, and so are the curated bytes (the dataset version)
    assert streamed == whole
    assert whole[0]["ok"] is not broken
    if broken:
        checks = {(f["column"], f["check"]): f for f in whole[0]["failures"]}  # type: ignore[attr-defined]
        assert checks[("customer_id", "unique")]["count"] == 3
        assert checks[("customer_id", "unique")]["examples"] == [2_500, 3_999, 4_000]


@pytest.mark.parametrize(
    ("late", "col_type"),
    [("4.5", "float"), ("4.5", "int"), ("abc", "int"), ("2024-01-01 10:00:00+02:00", "timestamp"), ("x", "string")],
)
def test_a_csv_whose_late_rows_change_a_column_type_reads_as_the_whole_file_does(
    late: str, col_type: str, tmp_path: Path
) -> None:
    # GIVEN a CSV whose column reads as one type in its first blocks and holds another kind of value near its end
    n = 20_000
    first = [f"2024-01-{i % 28 + 1:02d}" for i in range(n)] if col_type == "timestamp" else [str(i) for i in range(n)]
    first[-5] = late
    body = pd.DataFrame({"y": np.arange(n), "x": first}).to_csv(index=False).encode()
    contract = DataContract.model_validate(
        {"columns": [{"name": "y", "type": "int"}, {"name": "x", "type": col_type, "nullable": True}], "target": "y"}
    )

    # WHEN it is validated in parts of 4 KiB (Arrow's reader infers each column's type from the first block)
    # THEN the column is read as the whole-file reader reads it (the type that holds every value), same report
    assert _streamed(body, "m/late.csv", contract, tmp_path, part_bytes=4 * 1024) == _whole(
        body, "m/late.csv", contract
    )


def test_quoted_values_holding_line_ends_and_quotes_stay_whole_across_parts(tmp_path: Path) -> None:
    # GIVEN a CSV whose quoted text holds line ends, commas and doubled quotes, in rows longer than a part
    notes = ["plain", "two\nlines, and a comma", 'a ""quoted"" word\n\nand more', "x" * 3_000]
    frame = pd.DataFrame({"y": np.arange(2_000), "note": [notes[i % len(notes)] for i in range(2_000)]})
    body = frame.to_csv(index=False).encode()
    contract = DataContract.model_validate(
        {
            "columns": [{"name": "y", "type": "int"}, {"name": "note", "type": "string", "regex": "[^0-9]*"}],
            "target": "y",
        }
    )
    # WHEN validated in parts of 1 KiB THEN no row is cut inside a quoted value: the same report and curated bytes
    whole = _whole(body, "m/q.csv", contract)
    assert whole[0]["ok"] and _streamed(body, "m/q.csv", contract, tmp_path, part_bytes=1024) == whole


_ROWS = b"y,x\n" + b"".join(b"%d,%d\n" % (i, i % 7) for i in range(5_000))
UNREADABLE = {
    "not UTF-8": ("m/b.csv", _ROWS + b"1,\xff\xfe\n"),
    "truncated gzip": ("m/b.csv.gz", gzip.compress(_ROWS)[:-30]),
    "gzip bomb": ("m/b.csv.gz", gzip.compress(b"y,x\n" + b"0" * (70 << 20))),
    "not gzip": ("m/b.csv.gz", b"this is not gzip at all"),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_a_file_that_cannot_be_read_is_the_same_contract_violation(case: str, tmp_path: Path) -> None:
    # GIVEN an upload that cannot be read (text that is not UTF-8, a broken gzip stream, a decompression bomb)
    key, body = UNREADABLE[case]
    contract = DataContract.model_validate(
        {"columns": [{"name": "y", "type": "int"}, {"name": "x", "type": "int"}], "target": "y"}
    )
    with pytest.raises(DataContractViolation) as whole:
        read_upload(body, key, contract=contract)
    # WHEN it is validated in parts THEN it is refused the same way, naming the same finding
    with pytest.raises(DataContractViolation) as streamed:
        _streamed(body, key, contract, tmp_path, part_bytes=4 * 1024)
    assert streamed.value.details == whole.value.details


def test_a_gzip_stream_of_several_members_reads_as_one(tmp_path: Path) -> None:
    # GIVEN a gzipped CSV made of two gzip members (as `cat a.gz b.gz` makes)
    body = gzip.compress(_ROWS[:20_000]) + gzip.compress(_ROWS[20_000:])
    contract = DataContract.model_validate(
        {"columns": [{"name": "y", "type": "int", "unique": True}, {"name": "x", "type": "int"}], "target": "y"}
    )
    # WHEN validated whole and in parts THEN both read every row of both members alike
    whole = _whole(body, "m/two.csv.gz", contract)
    assert whole[0]["ok"] and whole[0]["rows"] == 5_000
    assert _streamed(body, "m/two.csv.gz", contract, tmp_path, part_bytes=4 * 1024) == whole


@pytest.mark.parametrize("rows", [0, 1, CANONICAL_ROW_GROUP_SIZE - 1, CANONICAL_ROW_GROUP_SIZE + 1])
def test_the_canonical_writer_writes_canonical_parquet_part_by_part(rows: int) -> None:
    # GIVEN rows with a dictionary-encoded column, written in parts of several sizes
    rng = np.random.default_rng(rows)
    table = pa.table(
        {
            "n": rng.integers(0, 50, rows),
            "c": pa.array(rng.choice(["a", "b", None], rows)).dictionary_encode(),
            "x": rng.normal(size=rows),
        }
    )
    for step in (999, 100_000):
        sink = io.BytesIO()
        writer = CanonicalParquetWriter(sink, table.schema)
        for start in range(0, rows, step):
            writer.write(table.slice(start, step))
        writer.close()
        # THEN the bytes are canonical_parquet's of all the rows at once
        assert sink.getvalue() == canonical_parquet(table)
        assert pq.read_table(io.BytesIO(sink.getvalue())).num_rows == rows
