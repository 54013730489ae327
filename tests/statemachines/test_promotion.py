"""Promotion across the three accounts of the local cloud, driven the way an operator does (slipway_cli's
promotion commands): versions trained in dev go to staging and to prod with a person's approval, canary
on live traffic through the target's HTTP API, and are promoted or rolled back by what they served;
rejections, timeouts, concurrent promotions and faults in every step leave both accounts' aliases as
they were; the source's bucket policy lets only the next environment's promotion role read models."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from slipway import layout
from slipway.domain.lineage import model_node
from slipway.errors import ConflictError, Forbidden, NotFound
from slipway.objects import S3Object
from slipway.stores.lineage import upstream
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli import promotion
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target, target_in, team_target_in
from slipway_local import LocalCloud
from slipway_local.cloud import ACCOUNTS, REGION
from slipway_local.faults import STEP_FAULTS
from slipway_local.polling import poll
from tests.conftest import spec_variant, upload_and_wait
from tests.statemachines.test_serving_api import json_rows

MODEL = "churn-promo"  # bake 12 s; prod asks approval (the spec's defaults)
FAULTY = "churn-fault"  # bake 1 s; staging asks approval too, within 4 s


@pytest.fixture(autouse=True)
def no_fault_outlives_its_test() -> Iterator[None]:
    yield
    STEP_FAULTS.clear()


@pytest.fixture(scope="module")
def targets(cloud: LocalCloud) -> dict[str, Target]:
    return {env: target_in(cloud, env) for env in ("dev", "staging", "prod")}


@pytest.fixture(scope="module")
def approvers(cloud: LocalCloud) -> dict[str, Target]:
    """Each environment's platform engineer: another person than the operator who requests the promotions."""
    return {env: team_target_in(cloud, env, "platform") for env in ("dev", "staging", "prod")}


def skewed_churn(seed: int = 9) -> bytes:
    """Customers with every churner kept and a quarter of the others: a model trained on it ranks as well
    (it passes the offline gates) but scores everyone far higher than one trained on the population."""
    frame = make_churn(n_rows=6_000, seed=seed)
    kept = frame[(frame["churned"] == 1) | (frame.index % 4 == 0)]
    return to_csv_bytes(kept.reset_index(drop=True))


@pytest.fixture(scope="module")
def versions(cloud: LocalCloud, targets: dict[str, Target]) -> dict[int, dict[str, Any]]:
    """churn-promo in dev: v1 and v2 from the population, v3 from the skewed slice; nothing promoted."""
    # The gate allows 0.05 of AUC regression: v1 and v2 are samples of the same population, and v3's skew must
    # pass the offline gates for its story (it ranks well; only its scores shift).
    relaxed = {"bake: 10m": "bake: 12s", "max_regression: {roc_auc: 0.02}": "max_regression: {roc_auc: 0.05}"}
    push_spec(targets["dev"].deps, spec_variant(MODEL, **relaxed))
    trained: dict[int, dict[str, Any]] = {}
    for n, body in enumerate((make_churn(n_rows=2_500, seed=5), make_churn(n_rows=2_500, seed=6)), start=1):
        run = upload_and_wait(cloud, "dev", f"{MODEL}/part-{n}.csv", to_csv_bytes(body))
        assert run.status == "SUCCEEDED", run.execution.get("cause")
        trained[n] = {"key": run.key, "version_id": run.version_id, **run.output["model"]}
    run = upload_and_wait(cloud, "dev", f"{MODEL}/skewed.csv", skewed_churn())
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    trained[3] = {"key": run.key, "version_id": run.version_id, **run.output["model"]}
    assert [trained[n]["version"] for n in (1, 2, 3)] == [1, 2, 3]
    return trained


def aliases(targets: dict[str, Target], env: str, model: str = MODEL) -> dict[str, int]:
    return ModelRegistry.of(targets[env].deps).aliases(model)


def promote(
    targets: dict[str, Target], ref: str, source: str, to: str, *, stop_when_waiting: bool = True
) -> tuple[promotion.Started, dict[str, Any], dict[str, Any]]:
    run = promotion.start(targets[to], ref, source, f"test: {ref} {source} → {to}")
    described, record = promotion.follow(run, stop_when_waiting=stop_when_waiting, timeout_s=180, interval_s=0.2)
    return run, described, record


def finish(run: promotion.Started) -> tuple[dict[str, Any], dict[str, Any]]:
    return promotion.follow(run, stop_when_waiting=False, timeout_s=180, interval_s=0.2)


def predict(cloud: LocalCloud, env: str, model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    url = f"{cloud.api_url(env)}/v1/models/{model}/predict"
    body = json.dumps({"instances": rows}).encode()
    headers = cloud.signed_headers(env, "POST", url, body, {"Content-Type": "application/json"})
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def customers(n: int, start: int, seed: int) -> list[dict[str, Any]]:
    return [{**row, "customer_id": f"C{start + k:06d}"} for k, row in enumerate(json_rows(n, seed=seed))]


def canary_with_traffic(
    cloud: LocalCloud, targets: dict[str, Target], ref: str, to: str, *, requests: int = 30, rows: int = 40
) -> tuple[promotion.Started, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Promote ``ref`` from dev into ``to``; while its canary bakes, customers call the target's HTTP API
    (``requests`` requests of ``rows`` customers each, once the challenger answers its share)."""
    run = promotion.start(targets[to], ref, "dev", f"test canary of {ref}")
    record = poll(
        lambda: r if (r := run.record()).get("status") in ("CANARY", "FAILED") else None, timeout_s=60, what="no canary"
    )
    assert record["status"] == "CANARY", record
    model = ref.partition("@")[0]
    seen = poll(
        lambda: "challenger" in predict(cloud, to, model, customers(rows, 0, seed=40))["variants"] or None,
        timeout_s=10,
        what="the challenger never answered",
    )
    assert seen
    answers = [predict(cloud, to, model, customers(rows, 1_000 * (k + 1), seed=41 + k)) for k in range(requests)]
    described, record = finish(run)
    return run, described, record, answers


# ---------------------------------------------------------------- dev → staging → prod


def test_dev_to_staging_to_prod_with_approval(
    approvers: dict[str, Target], cloud: LocalCloud, targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    # GIVEN churn-promo v1 trained in dev, nothing deployed anywhere
    # WHEN it is promoted into staging: no champion there, no approval asked → production at once
    started = time.perf_counter()
    _, described, record = promote(targets, f"{MODEL}@1", "dev", "staging")
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert (record["status"], record["source_version"], record["target_version"]) == ("SUCCEEDED", 1, 1)
    assert aliases(targets, "staging") == {"production": 1}

    # AND from staging into prod: it waits for a person, saying who and how, and tells the alarm topic's subscribers
    inbox = _subscribe_to_alarms(cloud, "prod")
    run, described, record = promote(targets, f"{MODEL}@production", "staging", "prod")
    assert described["status"] == "RUNNING" and record["status"] == "WAITING_FOR_APPROVAL"
    assert f"slipway approve {MODEL} --env prod" in record["waiting_for"]
    # (the record says WAITING_FOR_APPROVAL a moment before the event reaches the topic: the inbox is polled)
    told = poll(lambda: next((m for m in inbox() if run.name in m), None), timeout_s=30, what="no one was told")
    assert "waits for approval until" in told and f"slipway approve {MODEL} --env prod" in told
    listed, _ = promotion.promotions_view([targets["prod"]], MODEL)
    assert [(r["run_id"], r["status"], r["step"]) for r in listed][:1] == [
        (run.name, "WAITING_FOR_APPROVAL", "WaitForApproval")
    ]
    assert aliases(targets, "prod") == {}

    # AND the operator who requested it may not approve it (the operate route knows them by their signature)
    with pytest.raises(Forbidden, match="another person must answer it"):
        promotion.answer(targets["prod"], MODEL, True, "my own release")
    assert run.record()["status"] == "WAITING_FOR_APPROVAL"

    # WHEN prod's platform engineer approves THEN it goes on and v1 serves in prod, approved in their name
    answered = promotion.answer(approvers["prod"], MODEL, True, "reviewed the model card")
    assert answered["by"] == f"arn:aws:sts::{ACCOUNTS['prod']}:assumed-role/slipway-prod-platform/platform-member"
    described, record = finish(run)
    elapsed = time.perf_counter() - started
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert record["approval"]["reason"] == "reviewed the model card" and record["target_version"] == 1
    assert aliases(targets, "prod") == {"production": 1}
    assert aliases(targets, "dev") == {"candidate": 3}  # the source is never changed
    with pytest.raises(Exception, match="no promotion of churn-promo waits for approval"):
        promotion.answer(approvers["prod"], MODEL, True, "twice")
    print(f"\ndev → staging → prod (first deployments, approval given at once): {elapsed:.1f} s")


def _subscribe_to_alarms(cloud: LocalCloud, env: str) -> Callable[[], list[str]]:
    """An SQS queue subscribed to the environment's alarm topic (as an operator's address would be): its messages."""
    sqs, sns = cloud.admin_client("sqs", env), cloud.admin_client("sns", env)
    url = sqs.create_queue(QueueName=f"alarm-inbox-{env}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = cloud.environments[env].outputs["AlarmTopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})

    def messages() -> list[str]:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [str(m["Body"]) for m in found]

    return messages


def test_artifacts_are_identical_by_sha256_in_all_three_accounts(
    cloud: LocalCloud, targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    recorded = ModelRegistry.of(targets["dev"].deps).get_version(MODEL, 1)["artifacts"]
    assert set(recorded) >= {layout.MODEL_ONNX, layout.MODEL_SKOPS, layout.MODEL_CARD_JSON}
    for env in ("staging", "prod"):
        item = ModelRegistry.of(targets[env].deps).get_version(MODEL, 1)
        assert {n: a["sha256"] for n, a in item["artifacts"].items()} == {n: a["sha256"] for n, a in recorded.items()}
    for name, artifact in recorded.items():
        key = S3Object.parse(artifact["uri"]).key
        digests = set()
        for env in ("dev", "staging", "prod"):
            bucket = cloud.environments[env].outputs["ArtifactsBucketName"]
            body = cloud.admin_client("s3", env).get_object(Bucket=bucket, Key=key)["Body"].read()
            digests.add(hashlib.sha256(body).hexdigest())
        assert digests == {artifact["sha256"]}, name


def test_lineage_runs_from_the_prod_version_back_to_the_dev_upload(
    targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    item = ModelRegistry.of(targets["prod"].deps).get_version(MODEL, 1)
    assert (item["promoted_from"]["env"], item["promoted_from"]["account"], item["promoted_from"]["version"]) == (
        "staging",
        ACCOUNTS["staging"],
        1,
    )
    reached = upstream(targets["prod"].deps, model_node(MODEL, 1))
    assert reached[:2] == [f"model:{MODEL}:1@staging", f"model:{MODEL}:1@dev"]
    raw = (
        f"raw:s3://{targets['dev'].outputs['RawBucketName']}/{versions[1]['key']}?versionId={versions[1]['version_id']}"
    )
    assert raw in reached
    assert f"run:{item['training_run_id']}" in reached
    assert any(n.startswith(f"dataset:{MODEL}:") for n in reached) and any(n.startswith("spec:") for n in reached)


# ---------------------------------------------------------------- canary


def test_a_healthy_canary_is_promoted_on_live_traffic(
    cloud: LocalCloud, targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    # GIVEN v1 serving in staging WHEN dev's v2 canaries there while customers call the API
    _, described, record, answers = canary_with_traffic(cloud, targets, f"{MODEL}@2", "staging")
    # THEN the challenger answered its share during the bake, and it was promoted
    variants = [v for a in answers for v in a["variants"]]
    assert 0.1 < variants.count("challenger") / len(variants) < 0.3
    assert described["status"] == "SUCCEEDED", (described.get("cause"), record.get("canary_reasons"))
    assert record["canary_healthy"] is True and record["canary_rows"]["challenger"] >= 100
    assert aliases(targets, "staging") == {"production": 2}
    report = targets["staging"].deps.store.get_json(S3Object.parse(record["canary_report"]))
    shift = next(c for c in report["checks"] if c["name"] == "prediction_shift")
    print(f"\nv2 against v1 on live traffic: PSI {shift['value']:.3f}, {record['canary_rows']}")
    assert {c["name"]: c["passed"] for c in report["checks"]} == {
        "traffic": True,
        "error_rate": True,
        "p99_latency_ms": True,
        "prediction_shift": True,
    }


@pytest.fixture(scope="module")
def rolled_back_events(cloud: LocalCloud) -> Callable[[], list[dict[str, Any]]]:
    """A queue in staging subscribed (by an EventBridge rule) to slipway's PromotionRolledBack events."""
    sqs, events = cloud.admin_client("sqs", "staging"), cloud.admin_client("events", "staging")
    url = sqs.create_queue(QueueName="promotion-rolled-back")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["slipway.promotion"], "detail-type": ["PromotionRolledBack"]}
    events.put_rule(Name="promotion-rolled-back", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="promotion-rolled-back", Targets=[{"Id": "queue", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def test_a_canary_whose_predictions_shift_is_rolled_back_with_the_reasons(
    cloud: LocalCloud,
    targets: dict[str, Target],
    versions: dict[int, dict[str, Any]],
    rolled_back_events: Callable[[], list[dict[str, Any]]],
) -> None:
    # GIVEN v3, trained on a skewed slice: it passed dev's offline gates
    assert versions[3]["new"] is True
    # WHEN it canaries in staging behind v2 on live traffic
    run, described, record, _ = canary_with_traffic(cloud, targets, f"{MODEL}@3", "staging")
    # THEN it is rolled back: the challenger cleared, production untouched, the reasons said
    assert (described["status"], described["error"]) == ("FAILED", "CanaryRolledBack")
    assert record["status"] == "ROLLED_BACK"
    assert any(
        r.startswith("prediction shift (PSI)") and " over the ceiling 0.25" in r for r in record["canary_reasons"]
    )
    assert "prediction shift (PSI)" in described["cause"]
    assert aliases(targets, "staging") == {"production": 2}
    # AND PromotionRolledBack reached EventBridge with the reasons
    event = poll(lambda: next(iter(rolled_back_events()), None), timeout_s=10, what="no PromotionRolledBack event")
    assert event["detail"]["promotion"] == run.name and event["detail"]["reasons"] == record["canary_reasons"]
    assert (event["source"], event["detail-type"]) == ("slipway.promotion", "PromotionRolledBack")
    assert (event["detail"]["model"], event["detail"]["env"], event["detail"]["champion"]) == (MODEL, "staging", 2)


def test_one_call_rolls_production_back(targets: dict[str, Target], versions: dict[int, dict[str, Any]]) -> None:
    moved = promotion.rollback(targets["staging"], MODEL, "customers report odd scores")
    assert (moved["from"], moved["to"]) == (2, 1)
    assert aliases(targets, "staging") == {"production": 1}
    last = ModelRegistry.of(targets["staging"].deps).alias_log(MODEL)[-1]
    assert (last["alias"], last["previous_version"], last["version"], last["reason"]) == (
        "production",
        2,
        1,
        "customers report odd scores",
    )
    assert last["actor"] == f"arn:aws:iam::{ACCOUNTS['staging']}:user/slipway-operator"


def test_the_alias_history_is_complete(targets: dict[str, Target], versions: dict[int, dict[str, Any]]) -> None:
    log = ModelRegistry.of(targets["staging"].deps).alias_log(MODEL)
    moves = [(e["alias"], e.get("previous_version"), e.get("version")) for e in log]
    assert moves == [
        ("production", None, 1),  # v1: first deployment
        ("challenger", None, 2),  # v2: canary
        ("production", 1, 2),  # v2: promoted
        ("challenger", 2, None),
        ("challenger", None, 3),  # v3: canary
        ("challenger", 3, None),  # v3: rolled back
        ("production", 2, 1),  # the operator's rollback
    ]
    role = targets["staging"].outputs["PromotionRoleArn"]
    promotions = {p["execution_arn"] for p in promotion.promotions_view([targets["staging"]], MODEL)[0]}
    for entry in log[:-1]:
        assert entry["actor"] == role and entry["execution"] in promotions and entry["reason"] and entry["at"]
    assert [e["weight"] for e in log if e["alias"] == "challenger" and e.get("version")] == [0.2, 0.2]
    assert "rolled back" in log[5]["reason"] and "prediction shift" in log[5]["reason"]


# ---------------------------------------------------------------- reject, timeout, two at once


@pytest.fixture(scope="module")
def faulty(approvers: dict[str, Target], cloud: LocalCloud, targets: dict[str, Target]) -> dict[str, Any]:
    """churn-fault: dev v1 in staging's production, dev v2 ready to canary behind it. Its spec bakes 1 s and
    asks approval in staging too, within 4 s."""
    spec = spec_variant(
        FAULTY,
        **{
            "bake: 10m": "bake: 1s",
            "staging: false": "staging: true",
            "timeout: 1d": "timeout: 4s",
            "max_regression: {roc_auc: 0.02}": "max_regression: {roc_auc: 0.2}",  # any second sample registers
        },
    )
    push_spec(targets["dev"].deps, spec)
    for n, seed in ((1, 11), (2, 12)):
        run = upload_and_wait(cloud, "dev", f"{FAULTY}/part-{n}.csv", to_csv_bytes(make_churn(n_rows=2_000, seed=seed)))
        assert run.status == "SUCCEEDED", run.execution.get("cause")
    run, described, record = promote(targets, f"{FAULTY}@1", "dev", "staging")
    assert record["status"] == "WAITING_FOR_APPROVAL"
    promotion.answer(approvers["staging"], FAULTY, True, "first release")
    described, record = finish(run)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return {"aliases": {"dev": aliases(targets, "dev", FAULTY), "staging": aliases(targets, "staging", FAULTY)}}


def unchanged(targets: dict[str, Target], faulty: dict[str, Any]) -> bool:
    return all(aliases(targets, env, FAULTY) == faulty["aliases"][env] for env in ("dev", "staging"))


def test_promoting_the_version_already_serving_changes_nothing(
    targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    # staging's production (v1) is prod's production already: no approval asked, no alias moved
    moves = len(ModelRegistry.of(targets["prod"].deps).alias_log(MODEL))
    _, described, record = promote(targets, f"{MODEL}@production", "staging", "prod")
    assert (described["status"], record["status"], record["target_version"]) == ("SUCCEEDED", "SUCCEEDED", 1)
    assert len(ModelRegistry.of(targets["prod"].deps).alias_log(MODEL)) == moves


def test_a_rejected_promotion_changes_nothing(
    approvers: dict[str, Target], cloud: LocalCloud, targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    before = aliases(targets, "prod")
    run, _, record = promote(targets, f"{MODEL}@2", "staging", "prod")
    assert record["status"] == "WAITING_FOR_APPROVAL"
    # an answer Step Functions refuses never reached the promotion: it is withdrawn, the approval still pending
    cloud.inject_fault("sfn", "SendTaskFailure", code="TaskTimedOut", status=400)
    with pytest.raises(ConflictError, match="no longer waits for an answer"):
        promotion.answer(approvers["prod"], MODEL, False, "lost on the way")
    approvals = targets["prod"].deps.table.query(*layout.approvals(MODEL, "prod"))
    [pending] = [a for a in approvals if a["execution"] == run.name]
    assert (pending["status"], "answered_by" in pending) == ("PENDING", False)
    assert "REJECTED by" in pending["undelivered"] and "TaskTimedOut" in pending["undelivered"]
    promotion.answer(approvers["prod"], MODEL, False, "not during the sale")
    described, record = finish(run)
    assert (described["status"], described["error"], record["status"]) == ("FAILED", "ApprovalRejected", "REJECTED")
    assert "not during the sale" in record["cause"], (described, record)
    assert aliases(targets, "prod") == before
    approvals = targets["prod"].deps.table.query(*layout.approvals(MODEL, "prod"))
    assert [a["status"] for a in approvals if a["execution"] == run.name] == ["REJECTED"]


def test_an_unanswered_approval_times_out_as_rejected(
    approvers: dict[str, Target], targets: dict[str, Target], faulty: dict[str, Any]
) -> None:
    run, _, record = promote(targets, f"{FAULTY}@2", "dev", "staging")
    assert record["status"] == "WAITING_FOR_APPROVAL"
    described, record = finish(run)  # nobody answers within the spec's 4 s
    assert (described["status"], described["error"], record["status"]) == ("FAILED", "ApprovalTimedOut", "TIMED_OUT")
    assert unchanged(targets, faulty)
    approvals = targets["staging"].deps.table.query(*layout.approvals(FAULTY, "staging"))
    assert [a["status"] for a in approvals if a["execution"] == run.name] == ["TIMED_OUT"]
    with pytest.raises(Exception, match=f"no promotion of {FAULTY} waits for approval"):
        promotion.answer(approvers["staging"], FAULTY, True, "too late")


def test_two_promotions_of_one_model_at_once_one_proceeds_the_other_fails_typed(
    approvers: dict[str, Target], targets: dict[str, Target], faulty: dict[str, Any]
) -> None:
    # GIVEN a promotion of churn-fault into staging under way (waiting for its approval)
    first, _, record = promote(targets, f"{FAULTY}@2", "dev", "staging")
    assert record["status"] == "WAITING_FOR_APPROVAL"
    versions_before = ModelRegistry.of(targets["staging"].deps).versions(FAULTY)
    # WHEN a second one starts THEN it fails PromotionInProgress, naming the first, having changed nothing
    second, described, record = promote(targets, f"{FAULTY}@1", "dev", "staging")
    assert (described["status"], described["error"], record["status"]) == ("FAILED", "PromotionInProgress", "FAILED")
    assert first.name in described["cause"]
    assert unchanged(targets, faulty) and ModelRegistry.of(targets["staging"].deps).versions(FAULTY) == versions_before
    assert not [
        e for e in ModelRegistry.of(targets["staging"].deps).alias_log(FAULTY) if e.get("execution") == second.arn
    ]
    # AND the first proceeds
    assert first.record()["status"] == "WAITING_FOR_APPROVAL"
    promotion.answer(approvers["staging"], FAULTY, False, "end of the test")
    assert finish(first)[1]["status"] == "REJECTED" and unchanged(targets, faulty)


def test_a_stopped_promotion_is_cleaned_up_by_its_status_change_event(
    approvers: dict[str, Target], cloud: LocalCloud, targets: dict[str, Target], faulty: dict[str, Any]
) -> None:
    # GIVEN a promotion whose canary is on (the challenger set), held inside its CheckCanary step
    held = cloud.inject_step_fault("staging", "CheckCanaryFunction", "barrier", parties=2)
    run, _, record = promote(targets, f"{FAULTY}@2", "dev", "staging")
    assert record["status"] == "WAITING_FOR_APPROVAL"
    promotion.answer(approvers["staging"], FAULTY, True, "stop test")
    poll(lambda: held.fired or None, timeout_s=60, what="CheckCanary never started")
    assert aliases(targets, "staging", FAULTY)["challenger"] == 2
    # WHEN an operator stops the execution (it never reaches its Abort state; the held step then returns)
    sfn = cloud.admin_client("stepfunctions", "staging")
    sfn.stop_execution(executionArn=run.arn, error="Operator.Stopped", cause="stopped by an operator")
    held.release()
    cloud.wait_idle()
    # THEN Step Functions' status-change event ran the abort all the same: challenger undone, lock released
    assert sfn.describe_execution(executionArn=run.arn)["status"] == "ABORTED"
    closed = poll(lambda: r if (r := run.record()).get("status") == "ABORTED" else None, timeout_s=30, what="no abort")
    assert closed["error"] == "ABORTED" and closed["undone"] == ["challenger 2 → cleared"]
    assert targets["staging"].deps.table.get(*layout.promotion_lock_key(FAULTY)) is None
    assert unchanged(targets, faulty)


# ---------------------------------------------------------------- faults in every step

# (environment, function) of each promotion step: Resolve runs in the source account.
STEPS = [
    ("staging", "BeginPromotionFunction"),
    ("dev", "ExportVersionFunction"),
    ("staging", "CopyArtifactsFunction"),
    ("staging", "RegisterPromotedFunction"),
    ("staging", "RequestApprovalFunction"),
    ("staging", "StartCanaryFunction"),
    ("staging", "CheckCanaryFunction"),
    ("staging", "ConcludePromotionFunction"),
]


def promote_faulty(
    approvers: dict[str, Target], targets: dict[str, Target]
) -> tuple[promotion.Started, dict[str, Any], dict[str, Any]]:
    """churn-fault dev v2 into staging, approved as soon as it asks; with no traffic its canary rolls back."""
    run, described, record = promote(targets, f"{FAULTY}@2", "dev", "staging")
    if record.get("status") == "WAITING_FOR_APPROVAL":
        try:
            promotion.answer(approvers["staging"], FAULTY, True, "fault test")
        except (NotFound, ConflictError):  # a step failing after asking: the promotion already ended
            pass
        described, record = finish(run)
    return run, described, record


def history_of(cloud: LocalCloud, run: promotion.Started) -> list[dict[str, Any]]:
    sfn = cloud.admin_client("stepfunctions", "staging")
    return sfn.get_execution_history(executionArn=run.arn, maxResults=1000)["events"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("env", "function"), STEPS, ids=[f for _, f in STEPS])
def test_a_transient_fault_in_a_step_is_retried(
    cloud: LocalCloud,
    approvers: dict[str, Target],
    targets: dict[str, Target],
    faulty: dict[str, Any],
    env: str,
    function: str,
) -> None:
    fault = cloud.inject_step_fault(env, function, "before", error_type="TransientError")
    run, described, record = promote_faulty(approvers, targets)
    assert fault.fired == 1
    # THEN the step ran again and the promotion ended as it would have without the fault: no traffic, rolled back
    assert (described["status"], described.get("error"), record["status"]) == (
        "FAILED",
        "CanaryRolledBack",
        "ROLLED_BACK",
    )
    failed = [e for e in history_of(cloud, run) if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    assert len(failed) == 1 and "TransientError" in json.dumps(failed[0], default=str)
    assert unchanged(targets, faulty)


@pytest.mark.parametrize(("env", "function"), STEPS, ids=[f for _, f in STEPS])
def test_a_permanent_fault_in_a_step_is_caught_and_leaves_the_aliases(
    cloud: LocalCloud,
    approvers: dict[str, Target],
    targets: dict[str, Target],
    faulty: dict[str, Any],
    env: str,
    function: str,
) -> None:
    # "after": the step's side effects happened (an alias moved, the lock taken), then it failed for good
    fault = cloud.inject_step_fault(env, function, "after", error_type="ArtifactIntegrityError")
    _, described, record = promote_faulty(approvers, targets)
    assert fault.fired == 1
    assert (described["status"], described["error"], record["status"]) == ("FAILED", "ArtifactIntegrityError", "FAILED")
    assert unchanged(targets, faulty), record.get("undone")
    assert targets["staging"].deps.table.get(*layout.promotion_lock_key(FAULTY)) is None


def test_a_failed_promotion_undoes_a_production_move_it_made(
    approvers: dict[str, Target], cloud: LocalCloud, targets: dict[str, Target], faulty: dict[str, Any]
) -> None:
    # GIVEN churn-fault's first deployment into prod (no champion there: production moves at once)
    assert aliases(targets, "prod", FAULTY) == {}
    # WHEN the step that moves production does so and then fails for good
    cloud.inject_step_fault("prod", "ConcludePromotionFunction", "after", error_type="ConflictError")
    run, described, record = promote(targets, f"{FAULTY}@production", "staging", "prod")
    assert record["status"] == "WAITING_FOR_APPROVAL"
    promotion.answer(approvers["prod"], FAULTY, True, "fault test")
    described, record = finish(run)
    # THEN the abort puts production back where it was (unset), and says so
    assert (described["error"], record["status"]) == ("ConflictError", "FAILED")
    assert record["undone"] == ["production 1 → cleared"]
    assert aliases(targets, "prod", FAULTY) == {}
    log = ModelRegistry.of(targets["prod"].deps).alias_log(FAULTY)
    assert [(e["previous_version"] if "previous_version" in e else None, e.get("version")) for e in log] == [
        (None, 1),
        (1, None),
    ]
    assert {e["execution"] for e in log} == {run.arn}


# ---------------------------------------------------------------- the perimeter


def _assumed(cloud: LocalCloud, env: str, role_arn: str) -> Any:
    credentials = cloud.client("sts", env).assume_role(RoleArn=role_arn, RoleSessionName="perimeter-test")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def test_only_the_next_environments_promotion_role_reads_the_sources_models(
    cloud: LocalCloud, targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    dev_bucket = targets["dev"].outputs["ArtifactsBucketName"]
    onnx = S3Object.parse(
        ModelRegistry.of(targets["dev"].deps).get_version(MODEL, 1)["artifacts"][layout.MODEL_ONNX]["uri"]
    )
    spec_key = next(
        k
        for k in targets["dev"].deps.store.list_keys(dev_bucket, f"specs/{MODEL}/")  # outside models/
    )

    def reads(session: Any, key: str) -> bool:
        try:
            session.client("s3", endpoint_url=cloud.endpoint_url).get_object(Bucket=dev_bucket, Key=key)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
            return False
        return True

    staging_role = targets["staging"].outputs["PromotionRoleArn"]
    assert reads(_assumed(cloud, "staging", staging_role), onnx.key)  # the grant
    assert not reads(_assumed(cloud, "staging", staging_role), spec_key)  # only models/
    assert not reads(_assumed(cloud, "prod", targets["prod"].outputs["PromotionRoleArn"]), onnx.key)
    assert not reads(cloud.session("staging"), onnx.key)  # staging's operator is not the promotion role
    # a role of the right name in the wrong account is refused too
    iam = cloud.client("iam", "prod")
    impostor = iam.create_role(
        RoleName="slipway-staging-promotion",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    assert impostor.startswith(f"arn:aws:iam::{ACCOUNTS['prod']}:")
    assert not reads(_assumed(cloud, "prod", impostor), onnx.key)
    # AND dev's own operator reads its own bucket (only a Deny would refuse it)
    assert reads(cloud.session("dev"), onnx.key)
    # AND over plain HTTP (not the local server on the loopback) even the grant is refused: TLS only
    insecure = _assumed(cloud, "staging", staging_role).client("s3", endpoint_url="http://s3.amazonaws.com")
    with pytest.raises(ClientError, match="DenyInsecureTransport"):
        insecure.get_object(Bucket=dev_bucket, Key=onnx.key)


def test_only_the_next_environment_may_invoke_the_sources_export(
    cloud: LocalCloud, targets: dict[str, Target], versions: dict[int, dict[str, Any]]
) -> None:
    export = f"arn:aws:lambda:{REGION}:{ACCOUNTS['dev']}:function:slipway-dev-export-version"
    with pytest.raises(ClientError) as refused:
        cloud.client("lambda", "prod").invoke(FunctionName=export, Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    # nor staging's teams: the permission names staging's account, whose IAM grants the invoke to its promotion
    # machine's role only (the team boundary grants no Lambda call)
    from slipway_local import iam

    iam.enable()
    try:
        with pytest.raises(ClientError) as refused:
            cloud.team_session("staging", "platform").client("lambda", endpoint_url=cloud.endpoint_url).invoke(
                FunctionName=export, Payload=b"{}"
            )
    finally:
        iam.disable()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    machine_role = f"arn:aws:iam::{ACCOUNTS['staging']}:role/slipway-staging-promotion-machine"
    keys = cloud.admin_client("sts", "staging").assume_role(RoleArn=machine_role, RoleSessionName="machine")
    credentials = keys["Credentials"]
    as_machine = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=cloud.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    answer = as_machine.invoke(FunctionName=export, Payload=b"{}")
    assert answer.get("FunctionError") and json.loads(answer["Payload"].read())["errorType"] == "InvalidEvent"
