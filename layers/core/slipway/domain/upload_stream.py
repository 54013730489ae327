"""Validating an upload larger than memory: it is read in parts (CSV blocks, Parquet row groups), each part
checked as ``validate_table`` checks a table and its curated rows written as they come, so that memory holds a
part, not the file, and the report and the curated Parquet are byte for byte those of the whole-table path."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from slipway.domain.findings import MAX_EXAMPLES, MAX_SHOWN, Finding, ValidationReport, report_of
from slipway.domain.tables import (
    CanonicalParquetWriter,
    csv_convert_options,
    inflate_gzip,
    is_typed_format,
    max_decompressed_bytes,
    require_utf8,
    unreadable,
)
from slipway.domain.validation import check_part, repeat_finding, repeated_rows
from slipway.spec import ColumnSpec, DataContract

__all__ = ["PART_BYTES", "SPILL_BYTES", "StreamedUpload", "csv_parts", "validate_upload_file"]

PART_BYTES = 16 * 1024 * 1024  # CSV text per part (Parquet parts are row groups)
SPILL_BYTES = 64 * 1024 * 1024  # upload bytes per hash partition of a unique column's values
# What Arrow's CSV reader tries for a column, in its order (arrow/csv/inference_internal.h, InferKind), with
# both forms of a timestamp: it reads zoned text as UTC, naive text as naive, a column never mixed.
_CSV_KINDS: tuple[pa.DataType, ...] = (
    pa.null(),
    pa.int64(),
    pa.bool_(),
    pa.date32(),
    pa.time32("s"),
    pa.timestamp("s"),
    pa.timestamp("s", tz="UTC"),
    pa.timestamp("ns"),
    pa.timestamp("ns", tz="UTC"),
    pa.float64(),
    pa.string(),
    pa.binary(),
)
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to ")


class _Loosen(Exception):
    """A later part of a CSV holds a value its column's type (inferred from the first part) cannot read."""

    def __init__(self, column: str, was: pa.DataType) -> None:
        super().__init__(column)
        self.column, self.was = column, was


def _looser(was: pa.DataType) -> pa.DataType:
    """The next type Arrow's reader would try after ``was``."""
    position = next((k for k, kind in enumerate(_CSV_KINDS) if kind == was), _CSV_KINDS.index(pa.float64()))
    return _CSV_KINDS[min(position + 1, len(_CSV_KINDS) - 1)]


def _text_blocks(path: Path, key: str, size: int) -> Iterator[bytes]:
    """The upload's text, ``size`` bytes at a time (a gzipped upload inflated as ``read_upload`` inflates it: the
    same limit and the same refusals)."""
    with path.open("rb") as source:
        blocks = iter(lambda: source.read(size), b"")
        if key.lower().endswith(".gz"):
            blocks = inflate_gzip(blocks, key, max_decompressed_bytes(path.stat().st_size))
        yield from blocks


def _row_end(text: bytes) -> int:
    """Where the last row of ``text`` (which starts at a row's start) ends: after its last line end outside quotes
    (a quoted value may hold line ends; a doubled quote inside one keeps the count even); 0 when none does."""
    data = np.frombuffer(text, np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    quotes = np.flatnonzero(data == ord('"'))
    outside = ends[np.searchsorted(quotes, ends) % 2 == 0] if quotes.size else ends
    return int(outside[-1]) + 1 if outside.size else 0


def _pieces(blocks: Iterator[bytes], part_bytes: int) -> Iterator[bytes]:
    """The text about ``part_bytes`` at a time, each piece whole rows. Read as asked, never ahead (Arrow's own
    streaming reader reads ahead of its consumer, as far as the whole file). Quotes are counted as RFC 4180 writes
    them; a file whose unquoted values hold a stray quote (12" in an unquoted value) may count none outside quotes
    for long: past 4 parts of text the piece ends at its last line end, as Arrow's own reader cuts its blocks."""
    held: list[bytes] = []
    size, enough = 0, part_bytes
    for block in blocks:
        held.append(block)
        size += len(block)
        if size < enough:
            continue
        text = b"".join(held)
        cut = _row_end(text) or (text.rfind(b"\n") + 1 if len(text) > 4 * part_bytes else 0)
        if cut:
            yield text[:cut]
        held = [text[cut:]]
        size = len(held[0])
        enough = part_bytes if cut else 2 * size  # a row longer than a part: look again when it has doubled
    rest = b"".join(held)
    if rest:
        yield rest


def csv_parts(
    path: Path, key: str, contract: DataContract, types: dict[str, pa.DataType], part_bytes: int = PART_BYTES
) -> Iterator[pa.Table]:
    """The CSV's rows, about ``part_bytes`` of text at a time, read as ``read_upload`` reads the whole file: the
    contract's text columns as text, the others as ``types`` says or as Arrow infers them from the first part.
    Raises ``_Loosen`` when a later part does not fit a column's type: Arrow's whole-file reader then tries the
    next type for every part, and so does the caller, reading the file again."""
    options = csv_convert_options(contract)
    text = dict(options.column_types)  # never loosened: a value that is not text makes the file unreadable
    names: list[str] | None = None
    for piece in _pieces(_text_blocks(path, key, min(part_bytes, 1 << 20)), part_bytes):
        first = names is None
        if names is None:
            names = pacsv.open_csv(pa.py_buffer(piece)).schema.names  # the header row
            read = pacsv.ReadOptions()
            options.column_types = {**types, **text}
        else:
            read = pacsv.ReadOptions(column_names=names)
        try:
            table = pacsv.read_csv(pa.py_buffer(piece), read_options=read, convert_options=options)
        except pa.ArrowInvalid as exc:
            found = _CONVERSION_ERROR.search(str(exc))
            name = names[int(found.group(1))] if found is not None else None
            if name is None or name in text:
                raise  # the file cannot be read, as the whole-file reader says
            raise _Loosen(name, options.column_types[name]) from exc
        if first:  # later parts are read as the first part's types (or looser ones)
            options.column_types = {**{f.name: f.type for f in table.schema}, **types, **text}
        yield table
    if names is None:  # an empty file: the whole-file reader's error
        pacsv.read_csv(pa.py_buffer(b""), convert_options=options)


def _parquet_parts(path: Path) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(str(path))
    if not parquet.num_row_groups:
        yield parquet.schema_arrow.empty_table()
    for group in range(parquet.num_row_groups):
        yield parquet.read_row_group(group)


def _mixed(values: np.ndarray) -> np.ndarray:
    """A 64-bit mix of integer keys (splitmix64's finaliser), so that runs of ids spread over the partitions."""
    x = values.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _text_keys(text: pa.Array) -> np.ndarray:
    """A 64-bit key per string (its length, first and last 8 bytes): equal strings get equal keys."""
    text = text.cast(pa.large_string())
    offsets = np.frombuffer(text.buffers()[1], np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], np.uint8) if text.buffers()[2] is not None else np.zeros(1, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    key = lengths.astype(np.uint64)
    last = max(len(data) - 1, 0)
    for j in range(8):
        for at in (starts + j, starts + lengths - 1 - j):
            byte = np.where(j < lengths, data[np.clip(at, 0, last)], 0).astype(np.uint64)
            key = key * np.uint64(1_099_511_628_211) + byte
    return key


def _partition_keys(values: pa.ChunkedArray) -> np.ndarray:
    """A key per value (no nulls): equal values, equal keys."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.concatenate([_text_keys(c) for c in values.chunks] or [np.zeros(0, np.uint64)])
    if pa.types.is_floating(kind):
        floats = np.asarray(values.to_numpy(), np.float64) + 0.0  # -0.0 is 0.0
        return floats.view(np.uint64)
    return np.asarray(values.cast(pa.int64()).to_numpy(), np.int64).view(np.uint64)


class _Repeats:
    """The rows of one ``unique`` column that repeat an earlier row's value, over every part, in bounded memory:
    each value goes with its row number to one of ``partitions`` spill files on disk, chosen by a hash of the
    value, so equal values meet in one file; at the end each file is read alone and searched as
    ``validate_table`` searches a column. Exact; memory holds one partition."""

    def __init__(self, spec: ColumnSpec, directory: Path, partitions: int) -> None:
        self.spec, self.partitions = spec, partitions
        self._paths = [directory / f"{spec.name.encode().hex()}-{k}.arrow" for k in range(partitions)]
        self._writers: list[ipc.RecordBatchStreamWriter | None] = [None] * partitions

    def add(self, col: pa.ChunkedArray, rows: np.ndarray) -> None:
        """Values of consecutive rows (``rows``: their upload row numbers, ascending)."""
        valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), bool)
        if not valid.all():
            col, rows = col.filter(pa.array(valid)), rows[valid]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        part = (_mixed(_partition_keys(col)) % np.uint64(self.partitions)).astype(np.int64)
        order = np.argsort(part, kind="stable")  # by partition, rows ascending within each
        values, ordered_rows = col.take(pa.array(order)), rows[order]
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        for k in range(self.partitions):
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            if lo == hi:
                continue
            columns = [values.slice(lo, hi - lo).combine_chunks(), pa.array(ordered_rows[lo:hi])]
            batch = pa.record_batch(columns, ["value", "row"])
            writer = self._writers[k]
            if writer is None:
                writer = self._writers[k] = ipc.new_stream(str(self._paths[k]), batch.schema)
            writer.write_batch(batch)

    def finding(self) -> Finding | None:
        """The ``unique`` finding over every row added, or None."""
        count, first_rows, first_values = 0, [], []
        for path, writer in zip(self._paths, self._writers, strict=True):
            if writer is None:
                continue
            writer.close()
            with ipc.open_stream(str(path)) as spilled:
                table = spilled.read_all()
            path.unlink()
            values, rows = table.column("value").combine_chunks(), table.column("row").to_numpy()
            repeated = repeated_rows(values)
            if repeated is None:
                continue
            count += repeated.size
            first_rows.append(rows[repeated[:MAX_EXAMPLES]])
            first_values.extend(values.take(pa.array(repeated[:MAX_EXAMPLES])).to_pylist())
        if not count:
            return None
        at = np.concatenate(first_rows)
        earliest = np.argsort(at, kind="stable")[:MAX_EXAMPLES]
        shown = tuple(repr(first_values[k]) for k in earliest[:MAX_SHOWN]) if self.spec.pii == "keep" else None
        return dataclasses.replace(repeat_finding(self.spec, at[earliest], shown), count=count)


@dataclass
class StreamedUpload:
    """An upload validated in parts: the report, and (when it is ok) the canonical Parquet of its curated rows."""

    report: ValidationReport
    curated: Path | None
    rows: int  # curated rows


def validate_upload_file(
    path: Path,
    key: str,
    contract: DataContract,
    curate: Callable[[pa.Table], pa.Table],
    curated: Path,
    *,
    part_bytes: int = PART_BYTES,
    spill_bytes: int = SPILL_BYTES,
    max_workers: int | None = None,
) -> StreamedUpload:
    """Validate the upload stored at ``path`` (named ``key``: CSV, gzipped CSV or Parquet) part by part and write
    ``curate`` of its typed rows (e.g. ``apply_pii``) as canonical Parquet to ``curated``. The report equals
    ``validate_table``'s on the whole file, and ``curated`` holds ``canonical_parquet``'s bytes; memory holds a part
    of the file and, for a ``unique`` column, one hash partition of its values (spilled beside ``curated``)."""
    partitions = max(1, -(-path.stat().st_size // spill_bytes))
    types: dict[str, pa.DataType] = {}
    while True:
        try:
            return _validate_parts(path, key, contract, types, curate, curated, partitions, part_bytes, max_workers)
        except _Loosen as loosen:  # read again, that column as the next type Arrow tries
            types[loosen.column] = _looser(types.get(loosen.column, loosen.was))
        except (pa.ArrowException, OSError, ValueError) as exc:
            hint = " (the file must be UTF-8 text)" if "UTF8" in str(exc) else ""
            kind = "Parquet" if is_typed_format(key) else "CSV"
            raise unreadable(key, f"cannot read the object as {kind}: {exc}{hint}") from exc


def _validate_parts(
    path: Path,
    key: str,
    contract: DataContract,
    types: dict[str, pa.DataType],
    curate: Callable[[pa.Table], pa.Table],
    curated: Path,
    partitions: int,
    part_bytes: int,
    max_workers: int | None,
) -> StreamedUpload:
    typed_file = is_typed_format(key)
    parts = _parquet_parts(path) if typed_file else csv_parts(path, key, contract, types, part_bytes)
    findings: dict[tuple[str | None, str], Finding] = {}
    schema: pa.Schema | None = None
    first_row = kept_rows = 0
    writer: CanonicalParquetWriter | None = None
    try:
        with tempfile.TemporaryDirectory(dir=curated.parent) as spill:
            repeats: dict[str, _Repeats] = {}
            for table in parts:
                if schema is None:
                    schema = table.schema
                    unique = [s for s in contract.columns if s.unique and s.name in schema.names]
                    repeats = {s.name: _Repeats(s, Path(spill), partitions) for s in unique}
                part = check_part(
                    table, contract, first_row=first_row, max_workers=max_workers, stored_types=typed_file, unique=False
                )
                for found in part.findings:
                    earlier = findings.get((found.column, found.check))
                    findings[(found.column, found.check)] = found if earlier is None else earlier.then(found)
                if repeats:
                    at = part.upload_rows()
                    for name, repeat in repeats.items():
                        repeat.add(part.typed.column(name), at)
                out = curate(part.typed)
                if writer is None:
                    writer = CanonicalParquetWriter(str(curated), out.schema)
                writer.write(out)
                first_row += part.uploaded
                kept_rows += part.typed.num_rows
            for repeat in repeats.values():
                repeated = repeat.finding()
                if repeated is not None:
                    findings[(repeated.column, "unique")] = repeated
    finally:
        if writer is not None:
            writer.close()
    assert schema is not None  # every upload has a part, maybe empty
    if not typed_file:
        require_utf8(schema.empty_table(), key)  # as read_upload refuses it, once every column's type is known
    report = report_of(schema.names, contract, list(findings.values()), kept_rows, first_row)
    if not report.ok:
        curated.unlink()
    return StreamedUpload(report, curated if report.ok else None, kept_rows)
