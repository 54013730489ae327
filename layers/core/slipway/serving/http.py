"""The HTTP API's request bodies: KServe/TF-Serving V1 ``{"instances": [...]}``, and MLflow's
``dataframe_records`` / ``dataframe_split`` so existing MLflow clients work unchanged; feedback. And the error
answers every route of the API gives (the infer and operate functions): a message, and one finding per field."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ROWS",
    "DataframeSplit",
    "ErrorAnswer",
    "FeedbackBody",
    "FeedbackItem",
    "PredictAnswer",
    "PredictBody",
    "RowExplanation",
    "error_answer",
    "invalid_body_answer",
]

MAX_ROWS = 10_000  # per request; more → 413 (use batch scoring)
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous request payload limit


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataframeSplit(_Body):
    columns: list[str] = Field(min_length=1)
    data: list[list[Any]] = Field(min_length=1)
    index: list[Any] | None = None

    @model_validator(mode="after")
    def _rows_fit_columns(self) -> DataframeSplit:
        for n, row in enumerate(self.data):
            if len(row) != len(self.columns):
                raise ValueError(f"data row {n} has {len(row)} values for {len(self.columns)} columns")
        return self


class PredictBody(_Body):
    """Exactly one of ``instances`` (rows as objects), ``dataframe_records`` or ``dataframe_split``."""

    instances: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    dataframe_records: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    dataframe_split: DataframeSplit | None = None
    explain: bool = Field(
        default=False,
        description="also answer each row's explanation: the base value and each feature's contribution to the "
        "model's output (log-odds, margin, probability or value), which add up to it",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictBody:
        given = [n for n in ("instances", "dataframe_records", "dataframe_split") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of instances, dataframe_records, dataframe_split"
                + (f" (got {given})" if given else "")
            )
        return self

    def __repr__(self) -> str:
        """The shape, not the rows: Powertools' resolver formats its route arguments into a debug message
        on every request (whether debug logging is on or not), and rows may hold personal data."""
        given = [n for n in ("instances", "dataframe_records", "dataframe_split") if getattr(self, n) is not None]
        return f"PredictBody({', '.join(given)}: {len(self.rows()) if len(given) == 1 else '?'} rows)"

    def rows(self) -> list[dict[str, Any]]:
        if self.instances is not None:
            return self.instances
        if self.dataframe_records is not None:
            return self.dataframe_records
        assert self.dataframe_split is not None
        columns = self.dataframe_split.columns
        return [dict(zip(columns, row, strict=True)) for row in self.dataframe_split.data]


class FeedbackItem(_Body):
    """The actual outcome of an earlier prediction, found by its request id (and row) or entity id."""

    request_id: str | None = Field(default=None, min_length=1, max_length=200)
    row: int = Field(default=0, ge=0)
    entity_id: str | int | None = None
    actual: Any

    @model_validator(mode="after")
    def _identified(self) -> FeedbackItem:
        if self.request_id is None and self.entity_id is None:
            raise ValueError("give the request_id (and row) of the prediction, or the entity_id")
        return self


class FeedbackBody(_Body):
    feedback: list[FeedbackItem] = Field(min_length=1)


class RowExplanation(BaseModel):
    """Why one row's prediction came out as it did: ``base`` plus every contribution is the model's output."""

    output: Literal["log-odds", "margin", "probability", "value"] = Field(
        description="what is explained: a binary classifier's log-odds of its positive class, one class's margin "
        "(its input to the softmax), a random forest's averaged probability, or a regression's value"
    )
    label: Any = Field(default=None, description="classification: the class whose output is explained")
    base: float = Field(description="the model's expected output over its training rows")
    contributions: dict[str, float] = Field(
        description="per raw feature (one-hot levels and date parts summed), largest first"
    )


class PredictAnswer(BaseModel):
    """The predict answer, for the OpenAPI document: the route writes it as JSON itself (validating the
    service's own answer again on every request would cost more than the model call)."""

    predictions: list[Any] = Field(description="one per row: the label (classification) or the value")
    probabilities: list[dict[str, float] | None] | None = Field(
        default=None, description="classification: per row, each label's probability"
    )
    model: str
    version: int | None = Field(description="the version that answered every row, or null when rows were split")
    variant: str | None = Field(description="production or challenger, or null when rows were split")
    versions: list[int] = Field(description="per row")
    variants: list[str] = Field(description="per row")
    request_id: str
    explanations: list[RowExplanation] | None = Field(default=None, description="per row, when explain was true")


class ErrorFinding(BaseModel):
    row: int | None = None
    field: str
    check: str | None = None
    message: str | None = None


class ErrorAnswer(BaseModel):
    """Every 4xx/5xx answer: a message and, for a body or rows that do not fit, one finding per field."""

    message: str
    errors: list[ErrorFinding] | None = None


def error_answer(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Response[Any]:
    """An ErrorAnswer as the route's response."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def invalid_body_answer(error: RequestValidationError) -> Response[Any]:
    """A body that is not JSON: 400; one that does not fit the route's model: 422 naming each field at fault."""
    details = error.errors()
    if any(d.get("type") == "json_invalid" for d in details):
        return error_answer(400, "the request body is not valid JSON")
    errors = [
        {
            "field": ".".join(str(p) for p in d.get("loc", ())[1:]) or "body",
            "check": d.get("type"),
            "message": d.get("msg"),
        }
        for d in details
    ]
    return error_answer(422, "the request body does not fit the API", errors)
