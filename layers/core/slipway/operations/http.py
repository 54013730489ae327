"""The operate routes' request bodies: each act a person asks for, with why (every act is audited)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AliasBody", "AnswerBody", "PromoteBody", "ReproductionBody", "RollbackBody", "SpecBody"]

MAX_SPEC_BYTES = 1024 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000, description="why: recorded in the audit trail")


class PromoteBody(_Body):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="a version or an alias")
    source_env: Literal["dev", "staging"]


class AnswerBody(_Body):
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit trail")


class RollbackBody(_Body):
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit trail")


class AliasBody(_Body):
    version: int = Field(ge=1)
    weight: float | None = Field(default=None, gt=0, lt=1, description="the challenger's share of traffic")
    expect_previous: int | Literal["none"] | None = Field(
        default=None, description="move only if the alias points at this version now ('none': unset)"
    )


class SpecBody(_Body):
    spec: str = Field(min_length=1, max_length=MAX_SPEC_BYTES, description="the spec's YAML (or JSON) text")


class ComparedMetric(BaseModel):
    """One metric a reproduction compared: as the registry records it, as reproduced, their relative difference."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    recorded: float | None
    reproduced: float | None
    diff: float | None = Field(ge=0, description="|reproduced - recorded| / max(1, |recorded|); None: one is missing")


class Runner(BaseModel):
    """Where a reproduction ran: what ran it, on which machine, with which Python, libraries and BLAS."""

    model_config = ConfigDict(extra="forbid")

    runner: str = Field(min_length=1, max_length=64, description="e.g. slipway reproduce (CLI)")
    host: str = Field(default="", max_length=255)
    platform: str = Field(default="", max_length=255)
    python: str = Field(default="", max_length=32)
    libraries: dict[str, str] = Field(default_factory=dict, max_length=32)
    blas: list[dict[str, str | int | None]] = Field(default_factory=list, max_length=8)


class ReproductionBody(_Body):
    """What ``slipway reproduce`` found, to be recorded in the caller's name."""

    status: Literal["identical", "within_tolerance", "different"]
    tolerance: float = Field(ge=0, le=1)
    max_diff: float | None = Field(ge=0)
    feature_set_matches: bool
    metrics: list[ComparedMetric] = Field(min_length=1, max_length=64)
    where: Runner
