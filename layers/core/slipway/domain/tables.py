"""Reading uploads and writing canonical Parquet, whose SHA-256 is the dataset version."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from slipway.errors import DataContractViolation
from slipway.spec import DataContract

__all__ = [
    "CANONICAL_ROW_GROUP_SIZE",
    "CanonicalParquetWriter",
    "canonical_parquet",
    "csv_convert_options",
    "gunzip_bounded",
    "inflate_gzip",
    "is_typed_format",
    "max_decompressed_bytes",
    "plain_values",
    "read_upload",
    "require_utf8",
    "unreadable",
]

CANONICAL_ROW_GROUP_SIZE = 256 * 1024
MIN_DECOMPRESSED_LIMIT = 64 * 1024 * 1024
MAX_COMPRESSION_RATIO = 256
_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def unreadable(key: str, reason: str) -> DataContractViolation:
    finding: dict[str, Any] = {"column": None, "check": "readable", "count": 1, "examples": [], "message": reason}
    return DataContractViolation(f"{key}: {reason}", details={"key": key, "failures": [finding]})


def is_typed_format(key: str) -> bool:
    """Whether the file stores typed columns (Parquet), whose types the contract holds it to, rather than
    text (CSV) that validation parses."""
    return key.lower().endswith(_PARQUET_SUFFIXES)


def csv_convert_options(contract: DataContract | None) -> pacsv.ConvertOptions:
    # Text columns are read as text so that "00123" keeps its zeros; everything else is inferred
    # and cast (row by row, with failures counted) by validation.
    text_types = {
        c.name: pa.string() for c in (contract.columns if contract else []) if c.type in ("string", "category")
    }
    null_values = contract.null_values if contract else [""]
    return pacsv.ConvertOptions(column_types=text_types, null_values=null_values, strings_can_be_null=True)


def read_upload(data: bytes, key: str, *, contract: DataContract | None = None) -> pa.Table:
    """Read an uploaded CSV (optionally gzipped) or Parquet object, chosen by the key's suffix."""
    lowered = key.lower()
    try:
        if lowered.endswith(_CSV_SUFFIXES):
            text = gunzip_bounded(data, key) if lowered.endswith(".gz") else data
            table = pacsv.read_csv(pa.BufferReader(text), convert_options=csv_convert_options(contract))
            require_utf8(table, key)
            return table
        if lowered.endswith(_PARQUET_SUFFIXES):
            return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        hint = " (the file must be UTF-8 text)" if "UTF8" in str(exc) else ""
        kind = "CSV" if ".csv" in lowered else "Parquet"
        raise unreadable(key, f"cannot read the object as {kind}: {exc}{hint}") from exc
    raise unreadable(key, f"unsupported file type; expected one of {', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}")


def max_decompressed_bytes(compressed: int) -> int:
    """How far a gzipped upload may expand: CSV compresses 5-20 times; a file that expands much more
    (a decompression bomb: a few KB of zeros that become gigabytes) is refused before it fills memory."""
    return max(MIN_DECOMPRESSED_LIMIT, MAX_COMPRESSION_RATIO * compressed)


def gunzip_bounded(data: bytes, key: str) -> bytes:
    """The gzip stream's content (every member of a concatenated stream), or DataContractViolation when it
    is corrupt, truncated or expands past ``max_decompressed_bytes`` (inflated in bounded steps: a bomb
    never gets further than the limit)."""
    return b"".join(inflate_gzip([data], key, max_decompressed_bytes(len(data))))


def inflate_gzip(compressed: Iterable[bytes], key: str, limit: int) -> Iterator[bytes]:
    """``gunzip_bounded`` for a stream: the content of the gzip stream given in ``compressed`` pieces, yielded at
    most 1 MiB at a time; the same DataContractViolation when it is corrupt, truncated or expands past ``limit``."""
    pieces = iter(compressed)
    pending, size = b"", 0
    inflate = None  # the member being read
    try:
        while pending or (pending := next(pieces, b"")):
            if inflate is None:
                inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # one gzip member
            piece = inflate.decompress(pending, 1 << 20)
            size += len(piece)
            if size > limit:
                raise unreadable(
                    key, f"the gzip stream expands to more than {limit:,} bytes (a decompression bomb?): refused"
                )
            if piece:
                yield piece
            pending = inflate.unconsumed_tail
            if inflate.eof:
                pending, inflate = inflate.unused_data, None
        if inflate is not None:
            raise unreadable(key, "cannot read the object as gzip: the stream is truncated")
    except zlib.error as exc:
        raise unreadable(key, f"cannot read the object as gzip: {exc}") from exc


def require_utf8(table: pa.Table, key: str) -> None:
    """pyarrow reads text that is not UTF-8 as bytes: say so, instead of failing later on a cast."""
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if binary:
        raise unreadable(
            key, f"{len(binary)} column(s) are not UTF-8 text (e.g. {binary[0]!r}): save the file as UTF-8"
        )


def plain_values(table: pa.Table) -> pa.Table:
    """``table`` as the curated Parquet stores it: no schema or field metadata, and dictionary-encoded columns
    (validation keeps categories so) as their values."""
    schema = pa.schema(
        [
            pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type, f.nullable)
            for f in table.schema
        ]
    )
    return table.cast(schema)


_CANONICAL_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "store_schema": True,
    "data_page_version": "1.0",
    "version": "2.6",
}


class CanonicalParquetWriter:
    """``canonical_parquet``'s bytes written part by part into a file: rows are held until a row group is full
    and each row group is written from one contiguous chunk, so the file is the same, byte for byte, as
    ``canonical_parquet`` of all the rows at once, while memory holds one row group."""

    def __init__(self, where: str | pa.NativeFile, schema: pa.Schema) -> None:
        self.schema = plain_values(schema.empty_table()).schema
        self._writer = pq.ParquetWriter(where, self.schema, **_CANONICAL_OPTIONS)
        self._pending: list[pa.Table] = []
        self._held = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table``'s rows (dictionary-encoded columns are written as their values)."""
        self._pending.append(plain_values(table))
        self._held += table.num_rows
        while self._held >= CANONICAL_ROW_GROUP_SIZE:
            held = pa.concat_tables(self._pending)
            self._write(held.slice(0, CANONICAL_ROW_GROUP_SIZE))
            self._pending, self._held = [held.slice(CANONICAL_ROW_GROUP_SIZE)], self._held - CANONICAL_ROW_GROUP_SIZE

    def _write(self, rows: pa.Table) -> None:
        self._writer.write_table(rows.combine_chunks(), row_group_size=CANONICAL_ROW_GROUP_SIZE)
        self.rows += rows.num_rows

    def close(self) -> None:
        """Write the last rows (an empty file, like ``canonical_parquet`` of no rows, if there were none)."""
        if self._held or not self.rows:
            self._write(pa.concat_tables(self._pending) if self._pending else self.schema.empty_table())
        self._pending, self._held = [], 0
        self._writer.close()


def canonical_parquet(table: pa.Table) -> bytes:
    """Deterministic Parquet bytes: same rows and schema give the same bytes, whatever the chunking.

    Written as ``plain_values`` (no metadata, e.g. pandas', and dictionary-encoded columns as their values),
    chunks combined so that page and row-group boundaries depend only on the data. The bytes also embed the
    writer's ``created_by`` string, so a pyarrow upgrade may change the dataset version of equal data.
    """
    plain = plain_values(table).combine_chunks()
    sink = io.BytesIO()
    pq.write_table(plain, sink, row_group_size=CANONICAL_ROW_GROUP_SIZE, **_CANONICAL_OPTIONS)
    return sink.getvalue()
