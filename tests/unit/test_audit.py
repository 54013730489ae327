"""The audit trail: every spec push, approval answer and rollback is recorded with the caller's ARN, time,
execution and reason, and read back with the alias moves, oldest first."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from slipway import layout
from slipway.errors import ConflictError
from slipway.stores import audit
from slipway.stores.promotions import claim_approval
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import SETTINGS, fake_deps

SPEC = (Path(__file__).resolve().parents[2] / "specs" / "churn.yaml").read_text()
ML = "arn:aws:sts::111111111111:assumed-role/slipway-dev-ml-engineer/alice"
PLATFORM = "arn:aws:sts::111111111111:assumed-role/slipway-dev-platform/bob"


def test_every_audited_act_is_recorded_with_who_when_and_why() -> None:
    # GIVEN an ML engineer's spec push, a platform engineer's two production moves, approval and rollback
    deps = fake_deps(dataclasses.replace(SETTINGS, principal=ML))
    pushed = push_spec(deps, SPEC, reason="first churn spec")
    for version in (1, 2):
        deps.table.put(layout.item(layout.version_key("churn", version), model="churn", version=version))
    registry = ModelRegistry.of(deps)
    registry.set_alias("churn", "production", 1, actor=PLATFORM, reason="first release")
    registry.set_alias("churn", "production", 2, actor=PLATFORM, reason="second release")
    approval = layout.item(
        layout.approval_key("churn", "dev", "promote-churn-1"),
        model="churn",
        env="dev",
        execution="promote-churn-1",
        execution_arn="arn:aws:states:us-east-1:111111111111:execution:slipway-dev-promotion:promote-churn-1",
        version=2,
        status="PENDING",
    )
    deps.table.put(approval)
    claim_approval(deps, approval, "APPROVED", PLATFORM, "canary looked fine")
    registry.rollback_production("churn", actor=PLATFORM, reason="latency regression")

    # WHEN the trail is read
    trail = audit.trail(deps, "churn")

    # THEN each act is there, oldest first, with its principal, reason and execution
    assert [e["kind"] for e in trail] == ["spec-push", "alias-move", "alias-move", "approved", "alias-move", "rollback"]
    assert [e["at"] for e in trail] == sorted(e["at"] for e in trail)
    push = trail[0]
    assert (push["principal"], push["reason"], push["details"]["version"]) == (
        ML,
        "first churn spec",
        pushed["version"],
    )
    answered = trail[3]
    assert answered["principal"] == PLATFORM and answered["reason"] == "canary looked fine"
    assert answered["execution"].endswith(":promote-churn-1")
    assert trail[-1]["details"] == {"from": 2, "to": 1} and trail[-1]["principal"] == PLATFORM
    assert trail[-2]["details"]["previous_version"] == 2 and trail[-2]["reason"] == "latency regression"


def test_a_rejection_is_recorded_as_such() -> None:
    deps = fake_deps()
    approval = layout.item(layout.approval_key("m", "prod", "p-1"), model="m", execution="p-1", status="PENDING")
    deps.table.put(approval)
    claim_approval(deps, approval, "REJECTED", PLATFORM, "not today")
    (entry,) = audit.trail(deps, "m")
    assert (entry["kind"], entry["principal"], entry["reason"], entry["execution"]) == (
        "rejected",
        PLATFORM,
        "not today",
        "p-1",
    )


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown audit kind"):
        audit.entry("m", "deleted-everything", at="2026-11-26T00:00:00+00:00", principal=PLATFORM)


def test_an_entry_is_never_replaced() -> None:
    # GIVEN an audit entry
    deps = fake_deps(dataclasses.replace(SETTINGS, principal=ML))
    first = audit.entry("churn", "rollback", at="2026-11-26T10:00:00+00:00", principal=PLATFORM, reason="first")
    audit.add(deps.table, first)

    # WHEN another is written at its key
    forged = audit.entry("churn", "rollback", at="2026-11-26T10:00:00+00:00", principal=ML, reason="forged")
    with pytest.raises(ConflictError):
        audit.add(deps.table, forged)

    # THEN the first is there as it was
    (kept,) = audit.trail(deps, "churn")
    assert (kept["principal"], kept["reason"]) == (PLATFORM, "first")
