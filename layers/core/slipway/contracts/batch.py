"""Pydantic contracts of the batch_inference machine's steps: ids, S3 URIs and counts only (the Distributed
Map carries one small request per Parquet part; results stay in S3 and the metadata table)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from slipway.contracts import StepRequest
from slipway.objects import S3Object
from slipway.schema import Frozen

__all__ = [
    "BatchFailure",
    "BatchSummary",
    "ConcludeBatchRequest",
    "PartRequest",
    "PartResult",
    "ResolvedBatch",
    "ScoreRequest",
]


class ScoreRequest(StepRequest):
    """The machine's input (``slipway score``): which model and which Parquet parts."""

    run_id: str = Field(min_length=1, max_length=80)
    ref: str = Field(min_length=1, description="MODEL (latest version), MODEL@VERSION or MODEL@ALIAS")
    input: str = Field(description="s3://bucket/prefix/ holding the Parquet parts to score")

    @field_validator("input")
    @classmethod
    def _an_s3_prefix(cls, value: str) -> str:
        if not value.startswith("s3://") or not value[5:].split("/", 1)[0]:
            raise ValueError(f"expected s3://bucket/prefix/, got {value!r}")
        return value

    @property
    def input_bucket(self) -> str:
        return self.input[5:].split("/", 1)[0]

    @property
    def input_prefix(self) -> str:
        parts = self.input[5:].split("/", 1)
        return parts[1] if len(parts) > 1 else ""


class ResolvedBatch(Frozen):
    """One registered version, pinned by its ONNX artifact's SHA-256 for every part of the run."""

    run_id: str
    model: str
    version: int
    onnx_sha256: str
    spec_version: str
    task: Literal["classification", "regression"]
    input_uri: str
    input_bucket: str
    input_prefix: str
    output_uri: str  # s3://lake/predictions/<model>/<version>/<run>/


class PartRequest(StepRequest):
    """One Distributed Map item: the resolved run and one object under its input prefix."""

    batch: ResolvedBatch
    key: str = Field(min_length=1)

    @property
    def part(self) -> str:
        """The object's key relative to the input prefix's folder (``…/2026-11-25/`` or ``…/2026-11-25/part-``
        both give ``part-0.parquet``): names its output file and its record."""
        folder = self.batch.input_prefix.rpartition("/")[0]
        folder = f"{folder}/" if folder else ""
        return self.key[len(folder) :] if self.key.startswith(folder) else self.key

    @property
    def source(self) -> S3Object:
        return S3Object(bucket=self.batch.input_bucket, key=self.key)


class PartResult(Frozen):
    part: str
    status: Literal["SCORED", "SKIPPED"]
    rows: int
    output_uri: str | None = None


class ConcludeBatchRequest(StepRequest):
    """After the Map (``error`` None) or after any Catch (``error``: the Catch's ``{Error, Cause}``)."""

    run_id: str = Field(min_length=1)
    error: dict[str, Any] | None = None


class BatchSummary(Frozen):
    """What a finished run recorded (run item and ``_summary.json``)."""

    run_id: str
    model: str
    version: int
    onnx_sha256: str
    input_uri: str
    output_uri: str
    summary_uri: str
    parts: int
    rows: int
    skipped: list[str]
    seconds: float  # sum of the parts' scoring time (the Map ran them in parallel)


class BatchFailure(Frozen):
    """The typed error a failed run ends with (the Fail state's Error and Cause)."""

    run_id: str
    error: str
    cause: str
