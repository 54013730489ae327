"""Pydantic contracts of the promotion machine's steps: ids, URIs, versions and small dicts only. A promotion
runs in the target environment's account; only ``export_version`` runs in the source's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from slipway.contracts import StepRequest
from slipway.contracts.drift import RetrainingOrder
from slipway.schema import Frozen

__all__ = [
    "AbortRequest",
    "ApprovalRequest",
    "CanaryStarted",
    "CanaryVerdict",
    "CheckCanaryRequest",
    "ConcludePromotionRequest",
    "CopiedVersion",
    "CopyRequest",
    "ExportRequest",
    "ExportedVersion",
    "PromoteRequest",
    "PromotedVersion",
    "Promotion",
    "PromotionResult",
    "RegisterPromotedRequest",
    "StageRequest",
    "StartCanaryRequest",
    "StartRequest",
]

SourceEnv = Literal["dev", "staging"]
TargetEnv = Literal["dev", "staging", "prod"]


class PromoteRequest(StepRequest):
    """The machine's input (``slipway promote MODEL@VERSION --from dev --to staging``). In dev, whose versions
    are trained there, ``source_env`` dev releases a version of dev's own registry in place (a retraining's
    release: no copy, the same approval, canary and rollback)."""

    ref: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}@[A-Za-z0-9_-]+$", description="MODEL@VERSION or MODEL@ALIAS")
    source_env: SourceEnv
    requested_by: str = Field(min_length=1, description="the principal (ARN) who asked")
    reason: str = ""
    retraining: RetrainingOrder | None = Field(
        default=None,
        description="the drift retraining this version came from (retrain-and-promote carries it onward)",
    )


class StartRequest(StepRequest):
    """The first step's input: the machine's input and the execution's identity."""

    request: dict[str, Any]
    execution: str = Field(min_length=1)  # $$.Execution.Name: the promotion's id
    execution_arn: str = Field(min_length=1)


class Promotion(Frozen):
    """Who asked for what: carried through every step."""

    id: str  # the execution name
    execution_arn: str
    model: str
    ref: str
    selector: str  # VERSION or ALIAS, in the source environment
    source_env: SourceEnv
    target_env: TargetEnv
    requested_by: str
    reason: str
    started_at: str
    in_place: bool = False  # a release of a version of this environment's own registry (dev): nothing to copy
    retraining: RetrainingOrder | None = None


class ExportRequest(StepRequest):
    promotion: Promotion


class ExportedVersion(Frozen):
    """The version the reference resolved to in the source, and its manifest beside its artifacts."""

    model: str
    version: int
    env: str
    account: str
    manifest_uri: str
    manifest_version_id: str | None = None  # pinned: what the source wrote is what the target reads
    manifest_sha256: str


class CopyRequest(StepRequest):
    promotion: Promotion
    exported: ExportedVersion


class CopiedVersion(Frozen):
    """The artifacts in the target's bucket, each checked against the SHA-256 the source recorded."""

    manifest_uri: str  # the manifest as received, in the target's bucket
    manifest_version_id: str | None = None
    artifacts: dict[str, dict[str, str]]  # name -> {"uri", "sha256"}


class RegisterPromotedRequest(StepRequest):
    promotion: Promotion
    exported: ExportedVersion
    copied: CopiedVersion


class PromotedVersion(Frozen):
    """The version registered in the target, and what its deployment section asks of this promotion."""

    model: str
    version: int
    new: bool
    champion: int | None  # production in the target before this promotion
    already_serving: bool  # production is this version already: nothing to deploy
    approval_required: bool
    approval_timeout: int  # seconds
    canary_share: float
    bake_seconds: int


class StageRequest(StepRequest):
    """An in-place release's second step: the promotion, whose selector names a version of this registry."""

    promotion: Promotion


class ApprovalRequest(StepRequest):
    promotion: Promotion
    promoted: PromotedVersion
    token: str = Field(min_length=1)


class StartCanaryRequest(StepRequest):
    promotion: Promotion
    promoted: PromotedVersion
    approval: dict[str, Any] | None = None  # the approver's answer, when one was needed


class CanaryStarted(Frozen):
    started_at: str
    share: float


class CheckCanaryRequest(StepRequest):
    promotion: Promotion
    promoted: PromotedVersion
    canary: CanaryStarted


class CanaryVerdict(Frozen):
    healthy: bool
    reasons: list[str]
    cause: str  # the reasons as one line (the Fail state's cause)
    report_uri: str
    rows: dict[str, int]  # variant -> rows served in the window


class ConcludePromotionRequest(StepRequest):
    """``promote`` after a healthy canary, ``direct`` for a first deployment, ``rollback`` after an unhealthy
    one, ``none`` when the version already serves."""

    action: Literal["promote", "direct", "rollback", "none"]
    promotion: Promotion
    promoted: PromotedVersion
    verdict: CanaryVerdict | None = None


class PromotionResult(Frozen):
    status: Literal["SUCCEEDED", "ROLLED_BACK"]
    model: str
    version: int
    production: int | None
    target_env: str


class AbortRequest(StepRequest):
    """After any Catch: the machine's input, the execution and the caught ``{Error, Cause}``."""

    request: dict[str, Any]
    execution: str = Field(min_length=1)
    execution_arn: str = Field(min_length=1)
    error: dict[str, Any]
