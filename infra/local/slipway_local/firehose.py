"""Firehose delivery to S3 as AWS does it, where moto writes every put under its literal Prefix
plus ``YYYY/MM/DD/HH/``: the prefix expressions (``!{timestamp:…}``, ``!{firehose:…}``,
``!{partitionKeyFromQuery:…}``), dynamic partitioning with a MetadataExtraction (jq) query,
the AppendDelimiterToRecord processor, the error output prefix, GZIP.

Like moto, and unlike AWS, nothing is buffered: each PutRecord/PutRecordBatch call writes its
objects at once, one per partition it touches (BufferingHints are ignored), so readers must expect
many small objects. Not realised (refused when the stream is created, not ignored): Lambda and
other processors, partitionKeyFromLambda, jq beyond ``{key: .field.path, …}``, record format
conversion, Snappy/ZIP compression, CustomTimeZone; Firehose's own IAM role is not checked."""

from __future__ import annotations

import base64
import gzip
import json
import re
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_EXPRESSION = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
_JAVA_DATE = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_SUPPORTED_PROCESSORS = ("MetadataExtraction", "AppendDelimiterToRecord")
PARTITIONING_FAILED = "partitioning-failed"  # what !{firehose:error-output-type} is for these records
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH/}"


def java_date_format(pattern: str) -> str:
    """A strftime format for the DateTimeFormatter subset Firehose prefixes use (yyyy, yy, MM, dd,
    HH, mm, ss, quoted literals, punctuation); any other pattern letter is refused."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.index("'", i + 1)
            out += pattern[i + 1 : end].replace("%", "%%") or "'"
            i = end + 1
        elif char.isalpha():
            run = len(pattern) - i - len(pattern[i:].lstrip(char))
            token = pattern[i : i + run]
            if token not in _JAVA_DATE:
                raise ValueError(f"timestamp pattern {token!r} is not realised by the local cloud (in {pattern!r})")
            out += _JAVA_DATE[token]
            i += run
        else:
            out += "%%" if char == "%" else char
            i += 1
    return out


_QUERY_FIELD = re.compile(r'^\s*(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))\s*(?::\s*(\.[A-Za-z0-9_.]+)\s*)?$')


def parse_extraction_query(query: str) -> dict[str, tuple[str, ...]]:
    """``{kind:.kind,model:.meta.model}`` (and the ``{kind}`` shorthand) → key → field path."""
    text = query.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"MetadataExtractionQuery {query!r}: only {{key: .field, …}} is realised locally")
    fields: dict[str, tuple[str, ...]] = {}
    for part in text[1:-1].split(","):
        match = _QUERY_FIELD.match(part)
        if not match:
            raise ValueError(f"MetadataExtractionQuery {query!r}: cannot read {part.strip()!r}")
        key = match.group(1) or match.group(2)
        path = match.group(3) or f".{key}"
        fields[key] = tuple(p for p in path.split(".") if p)
    return fields


def _enabled(value: Any, default: bool) -> bool:
    return default if value is None else str(value).lower() == "true"


def _processors(config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    processing = config.get("ProcessingConfiguration") or {}
    if not _enabled(processing.get("Enabled"), default=True):
        return {}
    found: dict[str, dict[str, str]] = {}
    for processor in processing.get("Processors") or []:
        params = {p["ParameterName"]: str(p["ParameterValue"]) for p in processor.get("Parameters") or []}
        found[processor["Type"]] = params
    return found


def _partitioning(config: Mapping[str, Any]) -> bool:
    return _enabled((config.get("DynamicPartitioningConfiguration") or {}).get("Enabled"), default=False)


def _unescape(delimiter: str) -> str:
    return delimiter.encode().decode("unicode_escape")


def validate_destination(config: Mapping[str, Any]) -> None:
    """Refuse, when the stream is created, what this delivery would not do as AWS does."""
    processors = _processors(config)
    unknown = sorted(set(processors) - set(_SUPPORTED_PROCESSORS))
    if unknown:
        raise NotImplementedError(f"Firehose processors {unknown} are not realised by the local cloud")
    if (config.get("DataFormatConversionConfiguration") or {}).get("Enabled"):
        raise NotImplementedError("Firehose record format conversion is not realised by the local cloud")
    if config.get("CompressionFormat", "UNCOMPRESSED") not in ("UNCOMPRESSED", "GZIP"):
        raise NotImplementedError(f"Firehose compression {config['CompressionFormat']} is not realised locally")
    keys = set()
    if "MetadataExtraction" in processors:
        keys = set(parse_extraction_query(processors["MetadataExtraction"].get("MetadataExtractionQuery", "")))
    if _partitioning(config) and not config.get("ErrorOutputPrefix"):
        raise ValueError("dynamic partitioning needs an ErrorOutputPrefix")
    for field in ("Prefix", "ErrorOutputPrefix"):
        for namespace, value in _EXPRESSION.findall(config.get(field) or ""):
            if namespace == "timestamp":
                java_date_format(value)
            elif namespace == "firehose":
                if value not in ("error-output-type", "random-string"):
                    raise ValueError(f"{field}: unknown !{{firehose:{value}}}")
            elif namespace == "partitionKeyFromQuery":
                if field != "Prefix" or not _partitioning(config) or value not in keys:
                    raise ValueError(
                        f"{field}: !{{partitionKeyFromQuery:{value}}} needs dynamic partitioning "
                        f"and a MetadataExtractionQuery that extracts {value!r}"
                    )
            else:
                raise NotImplementedError(f"{field}: !{{{namespace}:…}} is not realised by the local cloud")


def evaluate_prefix(prefix: str, now: datetime, keys: Mapping[str, str], error_type: str = "") -> str:
    """A prefix with its expressions evaluated (every timestamp is the same instant)."""

    def value(match: re.Match[str]) -> str:
        namespace, name = match.group(1), match.group(2)
        if namespace == "timestamp":
            return now.strftime(java_date_format(name))
        if namespace == "partitionKeyFromQuery":
            return keys[name]
        if name == "error-output-type":
            return error_type
        return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(11))  # random-string

    return _EXPRESSION.sub(value, prefix)


def _extract(data: bytes, fields: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The partition keys of one JSON record; ValueError when one is missing or not a scalar."""
    document: Any = json.loads(data)
    keys: dict[str, str] = {}
    for key, path in fields.items():
        value = document
        for part in path:
            if not isinstance(value, dict) or part not in value:
                raise ValueError(f"partition key {key!r}: .{'.'.join(path)} is missing")
            value = value[part]
        if value is None or isinstance(value, (dict, list)):
            raise ValueError(f"partition key {key!r}: .{'.'.join(path)} is {json.dumps(value)}, not a scalar")
        keys[key] = json.dumps(value) if isinstance(value, bool) else str(value)
    return keys


def _error_record(data: bytes, message: str, now: datetime) -> bytes:
    millis = int(now.timestamp() * 1000)
    return json.dumps(
        {
            "attemptsMade": 1,
            "arrivalTimestamp": millis,
            "errorCode": "DynamicPartitioning.MetadataExtractionFailed",
            "errorMessage": message,
            "attemptEndingTimestamp": millis,
            "rawData": base64.b64encode(data).decode(),
        }
    ).encode()


@dataclass(frozen=True)
class Delivery:
    """One S3 object a put produces: its evaluated prefix and its bytes."""

    prefix: str
    body: bytes


def plan_deliveries(config: Mapping[str, Any], records: list[bytes], now: datetime | None = None) -> list[Delivery]:
    """The objects one put of ``records`` becomes under this S3 destination configuration."""
    now = now or datetime.now(UTC)
    processors = _processors(config)
    partitioning = _partitioning(config)
    prefix = config.get("Prefix") or ""
    if not partitioning and "!{timestamp:" not in prefix:
        prefix += DEFAULT_TIME_PREFIX  # as AWS: a prefix without a timestamp gets yyyy/MM/dd/HH/
    error_prefix = config.get("ErrorOutputPrefix") or "!{firehose:error-output-type}/"
    if "!{timestamp:" not in error_prefix:
        error_prefix += DEFAULT_TIME_PREFIX
    query = processors.get("MetadataExtraction", {}).get("MetadataExtractionQuery")
    fields = parse_extraction_query(query) if partitioning and query else {}
    delimiter = b""
    if "AppendDelimiterToRecord" in processors:
        delimiter = _unescape(processors["AppendDelimiterToRecord"].get("Delimiter", "\\n")).encode()

    groups: dict[str, list[bytes]] = {}
    for data in records:
        try:
            keys = _extract(data, fields) if fields else {}
        except ValueError as exc:  # includes records that are not JSON
            target = evaluate_prefix(error_prefix, now, {}, PARTITIONING_FAILED)
            groups.setdefault(target, []).append(_error_record(data, str(exc), now) + b"\n")
            continue
        groups.setdefault(evaluate_prefix(prefix, now, keys), []).append(data + delimiter)
    compress = config.get("CompressionFormat") == "GZIP"
    return [
        Delivery(target, gzip.compress(b"".join(parts)) if compress else b"".join(parts))
        for target, parts in groups.items()
    ]


def object_key(delivery: Delivery, stream_name: str, version_id: str, now: datetime, gzip_suffix: bool) -> str:
    """``<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>``, Firehose's object name."""
    name = f"{delivery.prefix}{stream_name}-{version_id}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"
    return name + (".gz" if gzip_suffix else "")


def install() -> None:
    """Replace moto's S3 delivery with plan_deliveries (idempotent)."""
    from moto.firehose.models import FirehoseBackend
    from moto.s3.models import s3_backends

    if getattr(FirehoseBackend.put_s3_records, "_slipway", False):
        return

    def put_s3_records(
        self: Any, delivery_stream_name: str, version_id: str, s3_destination: dict[str, Any], records: list[Any]
    ) -> list[dict[str, str]]:
        now = datetime.now(UTC)
        bucket = s3_destination["BucketARN"].split(":")[-1]
        kms = ((s3_destination.get("EncryptionConfiguration") or {}).get("KMSEncryptionConfig") or {}).get(
            "AWSKMSKeyARN"
        )
        backend = s3_backends[self.account_id][self.partition]
        gzip_suffix = s3_destination.get("CompressionFormat") == "GZIP"
        for delivery in plan_deliveries(s3_destination, [r["Data"] for r in records], now):
            key = object_key(delivery, delivery_stream_name, version_id, now, gzip_suffix)
            if kms:
                backend.put_object(bucket, key, delivery.body, encryption="aws:kms", kms_key_id=kms)
            else:
                backend.put_object(bucket, key, delivery.body)
        return [{"RecordId": uuid.uuid4().hex} for _ in records]

    put_s3_records._slipway = True  # type: ignore[attr-defined]
    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign]
