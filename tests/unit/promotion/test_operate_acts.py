"""The acts a person asks for through the operate routes, on the fakes: each is done and audited in the name of the
verified caller, never a name the request carries; the person who requested a promotion cannot answer its
approval (someone else can, once); a promotion's requester is the caller."""

from __future__ import annotations

import dataclasses

import pytest

from slipway import layout
from slipway.errors import ConflictError, Forbidden
from slipway.operations import acts
from slipway.ports import Deps
from slipway.stores import audit
from slipway.stores.promotions import record
from slipway.stores.runs import get_run
from tests.fakes import FakeWorkflows, fake_deps
from tests.unit.promotion.support import settings
from tests.unit.steps.support import spec_text

ALICE = "arn:aws:sts::333333333333:assumed-role/slipway-prod-platform/alice"
ALICE_ELSEWHERE = "arn:aws:sts::333333333333:assumed-role/slipway-prod-ml-engineer/alice"
BOB = "arn:aws:sts::333333333333:assumed-role/slipway-prod-platform/bob"
PROMOTION = "promote-churn-2-from-staging-20261207T180000Z-abc123"


def _waiting(requested_by: str) -> Deps:
    """prod, where a promotion of churn v2 requested by ``requested_by`` waits for approval."""
    deps = fake_deps(
        dataclasses.replace(settings("prod"), promotion_state_machine_arn="arn:aws:states:us-east-1:3:stateMachine:p")
    )
    deps.table.put(
        layout.item(
            layout.approval_key("churn", "prod", PROMOTION),
            model="churn",
            env="prod",
            execution=PROMOTION,
            version=2,
            token="token-1",
            requested_by=requested_by,
            requested_at="2026-12-07T18:00:00+00:00",
            status="PENDING",
        )
    )
    record(deps, PROMOTION, status="WAITING_FOR_APPROVAL", model="churn")
    workflows = deps.workflows
    assert isinstance(workflows, FakeWorkflows)
    workflows.waiting.add("token-1")
    return deps


@pytest.mark.parametrize("approver", [ALICE, ALICE_ELSEWHERE], ids=["same-role", "another-role"])
def test_the_requester_cannot_answer_their_own_promotion(approver: str) -> None:
    # GIVEN a promotion alice requested, waiting for approval
    deps = _waiting(ALICE)
    # WHEN alice approves it (as the platform role, or under another role)
    with pytest.raises(Forbidden, match="another person must answer it"):
        acts.answer_approval(deps, "churn", True, "looks fine", approver)
    # THEN nothing was answered or recorded: the task still waits, the approval is pending, no audit entry
    workflows = deps.workflows
    assert isinstance(workflows, FakeWorkflows)
    assert workflows.answers == {} and "token-1" in workflows.waiting
    assert [a["status"] for a in deps.table.query(*layout.approvals("churn", "prod"))] == ["PENDING"]
    assert audit.trail(deps, "churn") == []


def test_another_person_answers_once_in_their_verified_name() -> None:
    # GIVEN a promotion alice requested
    deps = _waiting(ALICE)
    # WHEN bob approves it
    answered = acts.answer_approval(deps, "churn", True, "model card reviewed", BOB)
    # THEN the waiting task goes on with bob's decision, the run says APPROVED and the trail names bob
    workflows = deps.workflows
    assert isinstance(workflows, FakeWorkflows)
    assert workflows.answers["token-1"]["output"]["by"] == BOB and answered["by"] == BOB
    assert (get_run(deps, PROMOTION) or {})["status"] == "APPROVED"
    [entry] = audit.trail(deps, "churn")
    assert (entry["kind"], entry["principal"], entry["reason"]) == ("approved", BOB, "model card reviewed")
    # AND a second answer finds nothing waiting
    with pytest.raises(Exception, match="waits for approval"):
        acts.answer_approval(deps, "churn", False, "changed my mind", BOB)


def test_an_answer_the_machine_no_longer_waits_for_is_withdrawn() -> None:
    # GIVEN a promotion whose task timed out meanwhile
    deps = _waiting(ALICE)
    workflows = deps.workflows
    assert isinstance(workflows, FakeWorkflows)
    workflows.waiting.clear()
    # WHEN bob rejects it THEN the refusal says so and the approval is pending again (nothing claims an answer)
    with pytest.raises(ConflictError, match="no longer waits"):
        acts.answer_approval(deps, "churn", False, "not this week", BOB)
    assert [a["status"] for a in deps.table.query(*layout.approvals("churn", "prod"))] == ["PENDING"]


def test_a_promotion_is_requested_by_the_verified_caller() -> None:
    deps = _waiting(ALICE)
    # WHEN bob asks prod for churn@production of staging
    started = acts.start_promotion(deps, "churn", "production", "staging", "weekly release", BOB)
    # THEN the machine starts with bob as the requester, whatever the body said
    workflows = deps.workflows
    assert isinstance(workflows, FakeWorkflows)
    payload = workflows.executions[started["execution_arn"]]
    assert payload == {
        "ref": "churn@production",
        "source_env": "staging",
        "requested_by": BOB,
        "reason": "weekly release",
    }
    # AND a source this environment does not take is refused
    with pytest.raises(Forbidden, match="prod takes versions from staging, not from dev"):
        acts.start_promotion(deps, "churn", "1", "dev", "skip staging", BOB)


def test_a_spec_push_is_audited_with_the_caller() -> None:
    deps = fake_deps(settings("dev"))
    pushed = acts.push(
        deps, spec_text(), "first churn spec", "arn:aws:sts::111111111111:assumed-role/slipway-dev-ml-engineer/carol"
    )
    [entry] = audit.trail(deps, "churn")
    assert entry["kind"] == "spec-push" and entry["principal"].endswith("/slipway-dev-ml-engineer/carol")
    assert entry["details"]["version"] == pushed["version"]


def test_a_person_is_their_session_or_user_name_within_the_account() -> None:
    assert acts.person(ALICE) == acts.person(ALICE_ELSEWHERE) == "333333333333:alice"
    assert acts.person("arn:aws:iam::333333333333:user/alice") == "333333333333:alice"
    assert acts.person(BOB) != acts.person(ALICE)


@pytest.mark.parametrize(
    ("env", "floor", "required"),
    [("prod", True, True), ("staging", False, False), ("staging", True, True)],
    ids=["prod", "staging-as-the-spec-says", "staging-required-by-its-stack"],
)
def test_a_spec_cannot_lower_the_environments_own_approval_requirement(env: str, floor: bool, required: bool) -> None:
    from slipway.spec.model import load_spec
    from slipway.stores.promotions import deployment_plan

    # GIVEN a spec, written in dev, that asks no approval anywhere
    text = spec_text(replace={"    staging: false\n    prod: true\n": "    staging: false\n    prod: false\n"})
    spec = load_spec(text)
    assert not spec.deployment_or_default.approval.required_for("prod")
    # WHEN the environment plans a promotion, with its stack's requirement (prod: always)
    deps = fake_deps(dataclasses.replace(settings(env), approval_required=floor))
    plan = deployment_plan(deps, spec, "churn", 1, None, new=True)
    # THEN the environment's requirement holds whatever the spec says
    assert plan.approval_required is required
