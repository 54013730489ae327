"""Pydantic contracts for what state machine steps receive and return: ids, S3 URIs and small
dicts only (Step Functions payloads are capped at 256 KiB)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from slipway.contracts import StepRequest, invalid_event
from slipway.errors import InvalidEvent
from slipway.objects import S3Object
from slipway.schema import Frozen


def _object_created(event: Any, what: str) -> tuple[S3Object, dict[str, Any]]:
    """The object an EventBridge "Object Created" event names (pinned to its version), and the event's
    object fields (size, etag, sequencer). Also accepts ``{"raw": {"bucket", "key", "version_id"}}``."""
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

    if not isinstance(event, dict):
        raise InvalidEvent(f"malformed {what} event: expected a JSON object", {"errors": []})
    try:
        if "raw" in event:
            return S3Object.model_validate(event["raw"]), {}
        parsed = S3EventNotificationEventBridgeModel.model_validate(event)
    except ValidationError as e:
        raise invalid_event(e, what) from e
    obj = parsed.detail.object
    raw = S3Object(bucket=parsed.detail.bucket.name, key=obj.key, version_id=obj.version_id or None)
    return raw, {"size": obj.size, "etag": obj.etag, "sequencer": obj.sequencer}


class ValidateRequest(Frozen):
    """Input of the validate step: the run id and the uploaded object.

    Accepts the Step Functions task payload ``{"run_id", "event": <the execution input>}`` (the input
    being ``{"raw": …}`` as the start function writes it, or an S3 "Object Created" event), a bare
    EventBridge "Object Created" event (direct invoke, ``sam local invoke -e``), or
    ``{"run_id", "raw": {"bucket", "key", "version_id"}}``.
    """

    run_id: str = Field(min_length=1, max_length=80)
    raw: S3Object  # the uploaded object, pinned to the version that triggered the run

    @classmethod
    def from_event(cls, event: dict[str, Any], default_run_id: str = "direct") -> ValidateRequest:
        if not isinstance(event, dict):
            raise InvalidEvent("malformed validate event: expected a JSON object", {"errors": []})
        run_id = str(event.get("run_id") or default_run_id)
        raw, _ = _object_created(event if "raw" in event else event.get("event", event), "validate")
        try:
            return cls(run_id=run_id, raw=raw)
        except ValidationError as e:
            raise invalid_event(e, "validate") from e


class StartTrainingRequest(Frozen):
    """Input of the start-training function: the S3 "Object Created" event the upload rule delivers."""

    raw: S3Object
    size: int | None = None
    etag: str | None = None

    @classmethod
    def from_event(cls, event: Any) -> StartTrainingRequest:
        raw, fields = _object_created(event, "start-training")
        return cls(raw=raw, size=fields.get("size"), etag=fields.get("etag"))

    def execution_input(self) -> dict[str, Any]:
        """What the run starts with: the same for every event about one object version (Step Functions
        treats a repeated start with the same name and input as the same execution)."""
        return {"raw": self.raw.model_dump(mode="json"), "size": self.size, "etag": self.etag}


class StartedRun(Frozen):
    """Output of the start-training function."""

    run_id: str
    execution_arn: str
    already_exists: bool  # True: a duplicate event; the run had been started before


class DatasetVersion(Frozen):
    """Output of the validate step: the curated, content-addressed dataset version."""

    model: str
    dataset_version: str  # SHA-256 of the curated canonical Parquet bytes
    rows: int
    columns: list[str]
    schema_fingerprint: str
    curated_uri: str
    profile_uri: str
    spec_version: str
    raw_uri: str
    raw_version_id: str | None = None
    run_id: str
    new: bool  # False when the same bytes were already a dataset version
    trained_version: int | None = None  # the model version these bytes already made under this spec
    dropped_null_target: int = 0  # upload rows without a target, dropped (``missing_target: drop``)
    # The feature views joined in (``FeatureViewSpec.binding`` and the view version): what serving fetches by entity.
    views: list[dict[str, Any]] = Field(default_factory=list)


class FailureReport(Frozen):
    """Input of the record-failure step: the Catch's ``{Error, Cause}`` and where it happened."""

    run_id: str = Field(min_length=1)
    state_machine: str = ""
    error: dict[str, Any]
    # Set by the execution-status rule (an execution that ended without its Catch: stopped, timed out, or
    # failed in RecordFailure): close the run only if nothing else has ended it.
    if_running: bool = False

    @classmethod
    def from_event(cls, event: Any) -> FailureReport:
        try:
            return cls.model_validate(event)
        except ValidationError as e:
            raise invalid_event(e, "record-failure") from e

    @model_validator(mode="after")
    def _has_error_name(self) -> FailureReport:
        if "Error" not in self.error:
            raise ValueError("error must carry the Catch's 'Error' field")
        return self

    @property
    def error_type(self) -> str:
        """The typed error; for an execution-status event, the execution's own error when it has one."""
        return str(self.error.get("ExecutionError") or self.error.get("Error"))

    @property
    def status(self) -> str:
        """How the run ended: ABORTED or TIMED_OUT as the execution-status event says, else FAILED."""
        ended = self.error.get("Error")
        return str(ended) if ended in ("ABORTED", "TIMED_OUT") else "FAILED"

    @property
    def cause(self) -> str:
        cause = self.error.get("Cause")
        return "" if cause is None else str(cause)


class FeatureSetRef(Frozen):
    """A fitted, content-addressed feature set: split, fitted transforms and feature matrices."""

    id: str
    model: str
    dataset_version: str
    spec_version: str
    uri: str  # s3:// prefix holding preprocessor.skops, split.parquet, {train,valid,test}.parquet
    curated_uri: str
    task: Literal["classification", "regression"]
    metric: str
    seed: int
    rows: dict[str, int]
    n_features: int
    labels: list[bool | int | str] | None = None  # classification: the target's labels, in class-code order
    positive_label: bool | int | str | None = None  # two labels: the class whose precision/recall/f1 count

    @property
    def positive(self) -> int | None:
        """The positive class code of a binary model (the greater label unless the spec names one); None with
        several classes or for regression."""
        if self.labels is None or len(self.labels) != 2:
            return None
        return 1 if self.positive_label is None else self.labels.index(self.positive_label)


class CandidateRef(Frozen):
    index: int
    algorithm: str
    params: dict[str, Any]


class FeaturesRequest(StepRequest):
    run_id: str = Field(min_length=1)
    dataset: DatasetVersion


class FeaturesResult(Frozen):
    feature_set: FeatureSetRef
    candidates: list[CandidateRef]


class TrainRequest(StepRequest):
    run_id: str = Field(min_length=1)
    feature_set: FeatureSetRef
    candidate: CandidateRef


class TrainResult(Frozen):
    index: int
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, float | None]  # on the validation split
    flags: list[str] = Field(default_factory=list)  # not_converged, numerical_warning, below_chance
    fit_seconds: float
    model_uri: str
    model_sha256: str
    # k-fold cross-validation over train + valid (training.cv): {"folds", "mean": {metric: v}, "sd": {metric: v}};
    # when every candidate has it, the winner is chosen on its mean
    cv: dict[str, Any] | None = None
    # what it would cost to serve (slipway.domain.leaderboard.serving_cost): its ONNX export's size and the median
    # time it takes to predict 1,000 rows on one thread; or why it has no ONNX export
    onnx_bytes: int | None = None
    predict_ms_per_1000: float | None = None
    onnx_error: str | None = None


class CandidateFailure(Frozen):
    error: str  # the Lambda or Step Functions error name: Runtime.OutOfMemory, Sandbox.Timedout, States.Timeout, …
    cause: str | None = None


class FailedCandidate(Frozen):
    """A candidate whose train step failed: the Map's iteration answers with this instead of a TrainResult."""

    index: int
    algorithm: str
    params: dict[str, Any]
    failed: CandidateFailure


class EvaluateRequest(StepRequest):
    run_id: str = Field(min_length=1)
    dataset: DatasetVersion
    feature_set: FeatureSetRef
    trained: list[TrainResult | FailedCandidate] = Field(min_length=1)


class GateResult(Frozen):
    passed: bool
    summary: str
    reasons: list[str]


class EvaluateResult(Frozen):
    best: TrainResult
    test_metrics: dict[str, Any]
    gate: GateResult
    champion: dict[str, Any] | None  # {"version", "metrics"} measured on this run's test split
    report_uri: str
    threshold: float | None = None  # binary: the decision threshold the version predicts with (None: argmax)
    refitted: bool = False  # the winner was fitted again on train + validation (training.refit)


class RegisterRequest(StepRequest):
    run_id: str = Field(min_length=1)
    dataset: DatasetVersion
    feature_set: FeatureSetRef
    evaluation: EvaluateResult


class RegisteredModel(Frozen):
    model: str
    version: int
    new: bool  # False when this run had already registered (a retry), or another run had (already_registered)
    alias: str
    artifacts: dict[str, str]  # name -> s3 URI
    model_card_uri: str
    onnx: dict[str, Any]  # {"status": "ok"|"failed", "max_diff", "measure", "error"?}
    # "already_registered": another run registered this dataset version under this spec version first;
    # ``version`` is that run's, and this run registered nothing
    outcome: Literal["registered", "already_registered"] = "registered"
    registered_by: str | None = None  # the run that registered ``version``, when not this one
