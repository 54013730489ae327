"""Frozen settings, read once from the environment the template sets, at the composition root."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from slipway import __version__


@dataclass(frozen=True)
class Settings:
    env: str
    region: str
    raw_bucket: str
    lake_bucket: str
    artifacts_bucket: str
    metadata_table: str
    event_bus: str = "default"  # EventBridge bus for domain events
    capture_stream: str | None = None  # Firehose delivery stream of captures and feedback (the infer function)
    pii_salt: str = ""
    # Where the salt lives (an SSM SecureString, read once at cold start by the composition root): the
    # template passes its name, never the secret itself.
    pii_salt_parameter: str | None = None
    code_version: str = "unversioned"  # git SHA of the deployed code (template parameter CodeVersion)
    endpoint_url: str | None = None  # the standard AWS_ENDPOINT_URL; None on AWS
    training_state_machine_arn: str = ""  # set only for the function that starts training runs
    materialise_state_machine_arn: str = ""  # the same function starts feature view materialisations
    promotion_state_machine_arn: str = ""  # set only for the function that starts promotions (operate)
    # Promotion into this environment: where versions come from (staging ← dev, prod ← staging), and the
    # principal (the promotion role's ARN) recorded with every alias move the promotion makes.
    promotion_source_env: str | None = None
    promotion_source_bucket: str | None = None
    principal: str | None = None
    # The environment's own floor under the spec's deployment.approval (the stack's ApprovalRequired; always in
    # prod): a spec, written in dev, can ask for more approvals here but never for fewer.
    approval_required: bool = False
    # The drift machine each model's schedule starts, and the role EventBridge starts it as (set for the
    # functions and tools that push specs: ``slipway spec push``, register-promoted).
    drift_state_machine_arn: str = ""
    drift_schedule_role_arn: str = ""
    # The train function's memory and timeout (set for the evaluate step): what a failed candidate's record names
    # as the limit it met.
    train_memory_mb: int | None = None
    train_timeout_s: int | None = None
    online_table: str = ""  # the online feature store (materialisation writes it, infer reads it)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if environ is None else environ
        missing = [k for k in ("RAW_BUCKET", "LAKE_BUCKET", "ARTIFACTS_BUCKET", "METADATA_TABLE") if not e.get(k)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            env=e.get("SLIPWAY_ENV", "dev"),
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            raw_bucket=e["RAW_BUCKET"],
            lake_bucket=e["LAKE_BUCKET"],
            artifacts_bucket=e["ARTIFACTS_BUCKET"],
            metadata_table=e["METADATA_TABLE"],
            event_bus=e.get("EVENT_BUS_NAME") or "default",
            capture_stream=e.get("CAPTURE_STREAM") or None,
            pii_salt=e.get("PII_SALT", ""),
            pii_salt_parameter=e.get("PII_SALT_PARAMETER") or None,
            code_version=e.get("CODE_VERSION") or f"slipway-{__version__}",
            endpoint_url=e.get("AWS_ENDPOINT_URL") or None,
            training_state_machine_arn=e.get("TRAINING_STATE_MACHINE_ARN", ""),
            materialise_state_machine_arn=e.get("MATERIALISE_STATE_MACHINE_ARN", ""),
            promotion_state_machine_arn=e.get("PROMOTION_STATE_MACHINE_ARN", ""),
            promotion_source_env=e.get("PROMOTION_SOURCE_ENV") or None,
            promotion_source_bucket=e.get("PROMOTION_SOURCE_BUCKET") or None,
            principal=e.get("SLIPWAY_PRINCIPAL") or None,
            approval_required=e.get("APPROVAL_REQUIRED", "").lower() == "true",
            drift_state_machine_arn=e.get("DRIFT_STATE_MACHINE_ARN", ""),
            drift_schedule_role_arn=e.get("DRIFT_SCHEDULE_ROLE_ARN", ""),
            train_memory_mb=int(e["TRAIN_MEMORY_MB"]) if e.get("TRAIN_MEMORY_MB") else None,
            train_timeout_s=int(e["TRAIN_TIMEOUT_S"]) if e.get("TRAIN_TIMEOUT_S") else None,
            online_table=e.get("ONLINE_TABLE", ""),
        )
