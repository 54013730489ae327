"""Pydantic contracts of the drift machine's steps: ids, URIs, verdicts and small dicts only."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from slipway.contracts import StepRequest, invalid_event
from slipway.errors import InvalidEvent
from slipway.schema import Frozen
from slipway.spec.deployment import Seconds

__all__ = [
    "CurateRetrainingRequest",
    "DriftCheck",
    "DriftRequest",
    "RetrainingDecision",
    "RetrainingOrder",
    "RetrainingRequest",
]


class DriftRequest(StepRequest):
    """Check one model's production version now: the schedule's rule passes ``model``; the machine adds its
    execution name as ``check_id``; ``window`` overrides the spec's (``slipway drift --window``)."""

    model: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    check_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    window: Seconds | None = None


class DriftCheck(Frozen):
    """What a check found. ``status`` "checked", or "nothing_in_production" (no verdicts, no report). ``retrain``:
    drifted and the policy asks for a retraining."""

    model: str
    check_id: str
    status: Literal["checked", "nothing_in_production"]
    version: int | None = None
    at: str
    drifted: bool = False
    reason: str = ""
    rows: int = 0
    labelled: int = 0
    dataset: str | None = None  # the verdicts: drift, no_drift, insufficient_data
    prediction: str | None = None
    performance: str | None = None
    drifted_features: list[str] = Field(default_factory=list)
    report_uri: str | None = None
    result_uri: str | None = None
    dataset_version: str | None = None  # what the drifted version was trained on (its drift reference says)
    policy: Literal["none", "retrain", "retrain-and-promote"] = "none"
    cooldown: int = 0
    retrain: bool = False


class RetrainingRequest(StepRequest):
    check: DriftCheck


class RetrainingDecision(Frozen):
    """Whether this check started a retraining (``DriftDetected`` sent), or the model was inside its cooldown."""

    model: str
    check_id: str
    requested: bool
    until: str
    event_id: str | None = None
    run_id: str | None = None  # the training run DriftDetected starts (in dev: drift elsewhere is forwarded there)
    reason: str


class RetrainingOrder(Frozen):
    """What a ``DriftDetected`` event asks: retrain ``model`` (whose production ``version`` drifted) on the data
    that version learned from plus the labelled captures. The training run's input carries it as
    ``{"retrain": …}``."""

    model: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    check_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    version: int
    policy: Literal["none", "retrain", "retrain-and-promote"] = "retrain"
    env: str = ""  # where the drift was found
    account: str = Field(default="", pattern=r"^([0-9]{12})?$")  # its account (EventBridge's, kept across buses)
    # the drifted version's training data: a dataset version of dev's (versions keep it when promoted); "" from
    # events sent before it was carried, whose retraining starts from the newest curated upload
    dataset_version: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")

    @classmethod
    def from_event(cls, event: Any) -> RetrainingOrder:
        """An EventBridge ``DriftDetected`` event (``detail`` holds the order; the envelope's ``account`` is the
        sender's, wherever the event was forwarded) or the order itself."""
        body = event.get("detail", event) if isinstance(event, dict) else event
        try:
            fields = {k: v for k, v in body.items() if k in cls.model_fields}
            if isinstance(event, dict) and "detail" in event and "account" in event:
                fields.setdefault("account", event["account"])
            return cls.model_validate(fields)
        except (ValidationError, AttributeError) as e:
            if isinstance(e, ValidationError):
                raise invalid_event(e, "DriftDetected") from e
            raise InvalidEvent("malformed DriftDetected event: expected a JSON object", {"errors": []}) from e


class CurateRetrainingRequest(StepRequest):
    """Input of the training machine's CurateRetrainingSet state: the run and the order it started from."""

    run_id: str = Field(min_length=1)
    retrain: RetrainingOrder
