"""The promotion steps on the fakes, driven as the machine drives them: dev's version exported with its
manifest, copied into staging with every SHA-256 checked, registered there with its source and lineage;
a first deployment goes straight to production, a later one canaries, is judged on what it served and
is promoted or rolled back; a failed promotion undoes its alias moves; two promotions exclude each other."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway import layout
from slipway.contracts.promotion import CopyRequest, ExportRequest, StartRequest
from slipway.domain.digest import sha256_hex
from slipway.domain.lineage import model_node
from slipway.errors import (
    ArtifactIntegrityError,
    ConflictError,
    InvalidEvent,
    NotFound,
    PromotionInProgress,
)
from slipway.manifest import VersionManifest
from slipway.objects import S3Object
from slipway.serving.service import InferenceService
from slipway.steps.promotion.begin_promotion import begin_promotion
from slipway.steps.promotion.copy_artifacts import copy_artifacts
from slipway.steps.promotion.export_version import export_version
from slipway.stores.lineage import upstream
from slipway.stores.promotions import claim_approval, pending_approvals
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import get_run
from tests.unit.promotion.support import (
    ACCOUNTS,
    USER,
    Environments,
    abort,
    ask_approval,
    begin_canary,
    conclude,
    judge_canary,
    land_captures,
    promote_directly,
    stage,
    start,
    through_register,
)
from tests.unit.serving.test_inference_service import rows


def aliases(envs: Environments, env: str) -> dict[str, int]:
    return ModelRegistry.of(envs[env]).aliases("churn")


def serve(envs: Environments, env: str, n: int, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` customers' requests to the environment's inference service (one row each), delivered to its lake."""
    service = InferenceService(envs[env], alias_ttl_s=0)
    answers = []
    for k, row in enumerate(rows(n, seed=seed)):
        answers.append(service.predict("churn", [{**row, "customer_id": f"C{k:06d}"}], f"req-{seed}-{k}").body)
    assert service.captures.flush()
    land_captures(envs, env)
    return answers


# ---------------------------------------------------------------- begin


def test_only_the_configured_source_promotes_into_an_environment(envs: Environments) -> None:
    request = {"ref": "churn@1", "source_env": "dev", "requested_by": USER}
    start_prod = StartRequest.from_event({"request": request, "execution": "p1", "execution_arn": "arn:p1"})
    with pytest.raises(InvalidEvent, match="prod takes versions from staging, not from dev"):
        begin_promotion(envs["prod"], start_prod)
    from_staging = StartRequest.from_event(
        {"request": {**request, "source_env": "staging"}, "execution": "d1", "execution_arn": "arn:d1"}
    )
    with pytest.raises(InvalidEvent, match="dev takes versions from dev, not from staging"):
        begin_promotion(envs["dev"], from_staging)
    bad = StartRequest.from_event({"request": {"ref": "churn"}, "execution": "p2", "execution_arn": "arn:p2"})
    with pytest.raises(InvalidEvent) as refused:
        begin_promotion(envs["staging"], bad)
    assert {e["field"] for e in refused.value.details["errors"]} == {"ref", "source_env", "requested_by"}


def test_a_second_promotion_of_the_model_fails_typed_and_changes_nothing(envs: Environments) -> None:
    # GIVEN one promotion of churn under way in staging
    first = start(envs, "staging", "churn@1", "first")
    staging = envs["staging"]
    before = dict(staging.table.items)  # type: ignore[attr-defined]
    # WHEN a second one begins THEN it fails PromotionInProgress naming the first
    with pytest.raises(PromotionInProgress, match="promotion first of churn is under way"):
        start(envs, "staging", "churn@2", "second")
    # AND its Catch (abort) changes nothing but its own record
    assert abort(envs, "staging", first.__class__("second", first.input), "PromotionInProgress", "x")["Error"] == (
        "PromotionInProgress"
    )
    after = {k: v for k, v in staging.table.items.items() if k != layout.run_key("second")}  # type: ignore[attr-defined]
    assert after == before
    assert get_run(staging, "second")["status"] == "FAILED"  # type: ignore[index]
    # AND the first still holds the lock; a retry of its own first step keeps it
    start(envs, "staging", "churn@1", "first")
    assert staging.table.get(*layout.promotion_lock_key("churn"))["execution"] == "first"  # type: ignore[index]


# ---------------------------------------------------------------- dev's release in place

RETRAINING = {
    "model": "churn",
    "check_id": "drift-churn-1",
    "version": 1,
    "policy": "retrain-and-promote",
    "env": "prod",
    "account": "333333333333",
    "dataset_version": "5256b2777e6a3f0d1c9b8a7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c42c42",
}


def test_dev_releases_a_retrained_version_in_place_and_says_so_onward(envs: Environments) -> None:
    # GIVEN version 1 serving in dev and version 2 retrained after a drift check under retrain-and-promote
    ModelRegistry.of(envs["dev"]).set_alias("churn", "production", 1, actor="op", reason="serve")
    before = ModelRegistry.of(envs["dev"]).versions("churn")
    # WHEN dev's promotion machine releases churn@2 from dev itself
    run = stage(envs, start(envs, "dev", "churn@2", "r2", retraining=RETRAINING))
    # THEN nothing is copied or registered again: the same version, behind production 1, no approval by default
    assert run.promotion is not None and run.promotion.in_place and run.promotion.retraining is not None
    assert run.promoted is not None
    assert (run.promoted.version, run.promoted.champion, run.promoted.new) == (2, 1, False)
    assert run.promoted.approval_required is False and run.promoted.bake_seconds == 600
    assert ModelRegistry.of(envs["dev"]).versions("churn") == before
    # AND it canaries on dev's traffic and is promoted there
    begin_canary(envs, "dev", run)
    serve(envs, "dev", 800)
    envs.clock.advance(__import__("datetime").timedelta(minutes=10))
    judge_canary(envs, "dev", run)
    assert run.verdict is not None and run.verdict.healthy, run.verdict.reasons
    conclude(envs, "dev", run, "promote")
    assert aliases(envs, "dev") == {"candidate": 2, "production": 2}
    # AND VersionPromoted carries the retraining, which the next environment's rule matches
    event = envs.events("dev")[-1]
    assert event["detail-type"] == "VersionPromoted"
    assert event["detail"]["env"] == "dev" and event["detail"]["retraining"] == RETRAINING
    assert get_run(envs["dev"], "r2")["retraining"] == RETRAINING  # type: ignore[index]


def test_a_release_in_place_names_what_it_cannot_release(envs: Environments) -> None:
    unexported = envs.fork()
    with pytest.raises(NotFound, match="7"):
        stage(envs, start(envs, "dev", "churn@7", "r7"))
    assert layout.MODEL_ONNX in ModelRegistry.of(unexported["dev"]).get_version("churn", 2)["artifacts"]
    unexported["dev"].table.update(*layout.version_key("churn", 2), {"artifacts": {}})
    with pytest.raises(NotFound, match="churn@2 has no ONNX artifact to serve"):
        stage(unexported, start(unexported, "dev", "churn@2", "r2"))


# ---------------------------------------------------------------- export, copy, register


def test_export_writes_the_versions_manifest_beside_its_artifacts(envs: Environments) -> None:
    run = start(envs, "staging", "churn@candidate", "exp")
    exported = export_version(envs["dev"], ExportRequest.from_event({"promotion": run.promotion}), "111111111111")
    # THEN the candidate alias resolved to version 2, exported with the SHA-256 of the bytes written
    item = ModelRegistry.of(envs["dev"]).get_version("churn", 2)
    onnx = S3Object.parse(item["artifacts"][layout.MODEL_ONNX]["uri"])
    assert (exported.version, exported.env, exported.account) == (2, "dev", "111111111111")
    assert exported.manifest_uri == layout.version_manifest(onnx).uri
    data = envs.store.get_bytes(S3Object.parse(exported.manifest_uri, exported.manifest_version_id))
    assert sha256_hex(data) == exported.manifest_sha256
    manifest = VersionManifest.from_bytes(data, "m")
    # AND it carries every artifact's key and SHA-256, the registry item, the spec and the lineage to the upload
    assert {n: (a.key, a.sha256) for n, a in manifest.artifacts.items()} == {
        n: (S3Object.parse(a["uri"]).key, a["sha256"]) for n, a in item["artifacts"].items()
    }
    assert manifest.item["spec_version"] == manifest.spec_version and "PK" not in manifest.item
    assert any(e["upstream"].startswith("raw:s3://dev-raw/churn/december.csv") for e in manifest.lineage)
    # AND exporting again writes the same bytes
    again = export_version(envs["dev"], ExportRequest.from_event({"promotion": run.promotion}), "111111111111")
    assert again.manifest_sha256 == exported.manifest_sha256


def test_export_refuses_a_version_whose_artifact_changed_since_registration(envs: Environments) -> None:
    item = ModelRegistry.of(envs["dev"]).get_version("churn", 1)
    envs.store.put_bytes(S3Object.parse(item["artifacts"][layout.MODEL_SKOPS]["uri"]), b"tampered")
    run = start(envs, "staging", "churn@1", "exp")
    with pytest.raises(ArtifactIntegrityError, match=r"model\.skops"):
        export_version(envs["dev"], ExportRequest.from_event({"promotion": run.promotion}), "111111111111")
    with pytest.raises(NotFound, match="no version 7"):
        other = {"promotion": {**run.state("promotion")["promotion"], "ref": "churn@7"}}
        export_version(envs["dev"], ExportRequest.from_event(other), "1")


def test_copy_checks_the_manifest_and_every_artifact(envs: Environments) -> None:
    run = start(envs, "staging", "churn@1", "cp")
    state = {"promotion": run.promotion}
    run.exported = export_version(envs["dev"], ExportRequest.from_event(state), "111111111111")
    # GIVEN the manifest changed after the source exported it
    located = S3Object.parse(run.exported.manifest_uri)
    good = envs.store.get_bytes(located)
    envs.store.put_bytes(located, good.replace(b'"version": 1', b'"version": 2'))
    state = run.state("promotion", "exported")
    unpinned = {**state, "exported": {**state["exported"], "manifest_version_id": None}}
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        copy_artifacts(envs["staging"], CopyRequest.from_event(unpinned))
    # AND a manifest outside the source's bucket is refused
    elsewhere = {**state, "exported": {**state["exported"], "manifest_uri": "s3://prod-artifacts/x.json"}}
    with pytest.raises(InvalidEvent, match="not in dev's artifacts bucket"):
        copy_artifacts(envs["staging"], CopyRequest.from_event(elsewhere))
    # WHEN the pinned manifest is copied THEN staging holds the same bytes under the same keys
    copied = copy_artifacts(envs["staging"], CopyRequest.from_event(state))
    for artifact in copied.artifacts.values():
        target = S3Object.parse(artifact["uri"])
        assert target.bucket == "staging-artifacts"
        assert sha256_hex(envs.store.get_bytes(target)) == artifact["sha256"]
        assert envs.store.get_bytes(target) == envs.store.get_bytes(S3Object(bucket="dev-artifacts", key=target.key))
    # AND a retry copies nothing again
    versions = {a["uri"]: len(envs.store.versions(S3Object.parse(a["uri"]))) for a in copied.artifacts.values()}
    copy_artifacts(envs["staging"], CopyRequest.from_event(state))
    assert versions == {a["uri"]: len(envs.store.versions(S3Object.parse(a["uri"]))) for a in copied.artifacts.values()}


def test_register_records_the_source_and_lineage_back_to_the_upload(envs: Environments) -> None:
    run = through_register(envs, "staging", start(envs, "staging", "churn@2", "reg"))
    assert run.promoted is not None
    # THEN staging numbers its own versions, and records where this one came from
    assert (run.promoted.version, run.promoted.new, run.promoted.champion) == (1, True, None)
    item = ModelRegistry.of(envs["staging"]).get_version("churn", 1)
    assert item["promoted_from"] | {} == {
        "env": "dev",
        "account": ACCOUNTS["dev"],
        "version": 2,
        "run_id": "run-2",
        "manifest_sha256": run.exported.manifest_sha256,  # type: ignore[union-attr]
        "promotion": "reg",
        "requested_by": USER,
    }
    assert item["training_run_id"] == "run-2" and item["artifacts"] == run.copied.artifacts  # type: ignore[union-attr]
    # AND its lineage reaches dev's version, run, dataset and the uploaded object
    reached = upstream(envs["staging"], model_node("churn", 1))
    assert reached[0] == "model:churn:2@dev"
    assert "run:run-2" in reached and any(n.startswith("raw:s3://dev-raw/churn/december.csv") for n in reached)
    # AND the spec it was trained under is stored in staging; staging asks no approval, the spec's canary applies
    assert run.promoted.approval_required is False
    assert (run.promoted.canary_share, run.promoted.bake_seconds, run.promoted.approval_timeout) == (0.2, 600, 86400)
    # AND promoting the same source version again registers nothing new
    again = through_register(envs, "staging", start(envs, "staging", "churn@2", "reg"))
    assert (again.promoted.version, again.promoted.new) == (1, False)  # type: ignore[union-attr]


# ---------------------------------------------------------------- first deployment, approval, canary


def test_a_first_deployment_goes_straight_to_production(envs: Environments) -> None:
    run = promote_directly(envs, "staging", "churn@1", "first")
    assert run.result is not None and (run.result.status, run.result.production) == ("SUCCEEDED", 1)
    assert aliases(envs, "staging") == {"production": 1}
    assert aliases(envs, "dev") == {"candidate": 2}  # the source is never changed
    log = ModelRegistry.of(envs["staging"]).alias_log("churn")
    assert [(e["alias"], e.get("previous_version"), e["version"]) for e in log] == [("production", None, 1)]
    assert log[0]["actor"] == "arn:aws:iam::222222222222:role/slipway-staging-promotion"
    assert log[0]["execution"] == run.arn and "first deployment" in log[0]["reason"]
    assert envs["staging"].table.get(*layout.promotion_lock_key("churn")) is None
    assert [e["detail-type"] for e in envs.events("staging")] == ["VersionPromoted"]
    assert get_run(envs["staging"], "first")["status"] == "SUCCEEDED"  # type: ignore[index]


def test_prod_waits_for_a_person_whose_answer_is_taken_once(envs: Environments) -> None:
    promote_directly(envs, "staging", "churn@1", "s1")
    run = through_register(envs, "prod", start(envs, "prod", "churn@production", "p1"))
    assert run.promoted is not None and run.promoted.approval_required is True
    ask_approval(envs, "prod", run, token="tok-1")
    ask_approval(envs, "prod", run, token="tok-2")  # a retried task waits on a new token
    pending = pending_approvals(envs["prod"], "churn", "prod")
    assert [(a["execution"], a["token"], a["status"]) for a in pending] == [("p1", "tok-2", "PENDING")]
    record = get_run(envs["prod"], "p1")
    assert record is not None and record["status"] == "WAITING_FOR_APPROVAL"
    assert "slipway approve churn --env prod" in record["waiting_for"]
    assert envs.events("prod")[-1]["detail-type"] == "ApprovalRequested"
    claim_approval(envs["prod"], pending[0], "APPROVED", "arn:aws:iam::333333333333:user/lead", "looks right")
    with pytest.raises(ConflictError, match="already answered"):
        claim_approval(envs["prod"], pending[0], "REJECTED", "someone else", "late")
    assert pending_approvals(envs["prod"], "churn", "prod") == []


def test_a_healthy_canary_is_promoted(envs: Environments) -> None:
    # GIVEN version 1 in staging's production and dev's version 2 promoted behind it
    promote_directly(envs, "staging", "churn@1", "s1")
    run = through_register(envs, "staging", start(envs, "staging", "churn@2", "s2"))
    assert run.promoted is not None and run.promoted.champion == 1
    # WHEN it canaries at 20 % and serves 400 customers during its bake
    begin_canary(envs, "staging", run)
    assert ModelRegistry.of(envs["staging"]).alias_items("churn")["challenger"]["weight"] == 0.2
    answers = serve(envs, "staging", 800)
    assert {a["variant"] for a in answers} == {"production", "challenger"}
    envs.clock.advance(__import__("datetime").timedelta(minutes=10))
    judge_canary(envs, "staging", run)
    # THEN it is healthy, each check saying what it saw
    assert run.verdict is not None and run.verdict.healthy, run.verdict.reasons
    assert run.verdict.rows["challenger"] + run.verdict.rows["production"] == 800
    report = envs.store.get_json(S3Object.parse(run.verdict.report_uri))
    assert {c["name"] for c in report["checks"]} == {"traffic", "error_rate", "p99_latency_ms", "prediction_shift"}
    # AND concluding moves production to it and clears the challenger, each move logged with the execution
    conclude(envs, "staging", run, "promote")
    assert aliases(envs, "staging") == {"production": 2}
    moves = [e for e in ModelRegistry.of(envs["staging"]).alias_log("churn") if e.get("execution") == run.arn]
    assert [(e["alias"], e.get("previous_version"), e.get("version")) for e in moves] == [
        ("challenger", None, 2),
        ("production", 1, 2),
        ("challenger", 2, None),
    ]
    assert envs.events("staging")[-1]["detail-type"] == "VersionPromoted"


def test_an_unhealthy_canary_is_rolled_back_with_its_reasons(envs: Environments) -> None:
    # GIVEN dev's version 2 canarying behind version 1, with its ONNX damaged in staging after the copy
    promote_directly(envs, "staging", "churn@1", "s1")
    run = begin_canary(envs, "staging", through_register(envs, "staging", start(envs, "staging", "churn@2", "s2")))
    onnx = ModelRegistry.of(envs["staging"]).get_version("churn", 2)["artifacts"][layout.MODEL_ONNX]["uri"]
    envs.store.put_bytes(S3Object.parse(onnx), b"damaged")
    # WHEN it serves its bake window THEN customers are answered by production, and the canary is unhealthy
    answers = serve(envs, "staging", 800)
    assert {a["variant"] for a in answers} == {"production"}
    judge_canary(envs, "staging", run)
    assert run.verdict is not None and not run.verdict.healthy
    assert any(r.startswith("error rate 100.00%") for r in run.verdict.reasons), run.verdict.reasons
    # AND the rollback clears the challenger, leaves production, and says why on the event bus
    conclude(envs, "staging", run, "rollback")
    assert run.result is not None and run.result.status == "ROLLED_BACK"
    assert aliases(envs, "staging") == {"production": 1}
    event = envs.events("staging")[-1]
    assert event["detail-type"] == "PromotionRolledBack" and event["detail"]["reasons"] == run.verdict.reasons
    assert get_run(envs["staging"], "s2")["status"] == "ROLLED_BACK"  # type: ignore[index]
    assert envs["staging"].table.get(*layout.promotion_lock_key("churn")) is None


def test_too_little_traffic_gives_no_verdict_and_rolls_back(envs: Environments) -> None:
    promote_directly(envs, "staging", "churn@1", "s1")
    run = begin_canary(envs, "staging", through_register(envs, "staging", start(envs, "staging", "churn@2", "s2")))
    serve(envs, "staging", 30)
    judge_canary(envs, "staging", run)
    assert run.verdict is not None and not run.verdict.healthy
    assert "at least 100 are needed for a verdict" in run.verdict.reasons[0]


def test_a_canary_does_not_start_when_production_moved_meanwhile(envs: Environments) -> None:
    promote_directly(envs, "staging", "churn@1", "s1")
    run = through_register(envs, "staging", start(envs, "staging", "churn@2", "s2"))
    ModelRegistry.of(envs["staging"]).clear_alias("churn", "production", actor="someone", reason="manual")
    with pytest.raises(ConflictError, match="moved from 1 to None"):
        begin_canary(envs, "staging", run)
    assert "challenger" not in aliases(envs, "staging")


def test_a_failed_promotion_undoes_its_alias_moves(envs: Environments) -> None:
    # GIVEN a canary under way, and production moved by someone else during the bake
    promote_directly(envs, "staging", "churn@1", "s1")
    run = begin_canary(envs, "staging", through_register(envs, "staging", start(envs, "staging", "churn@2", "s2")))
    # WHEN the promote step finds production where it did not expect it
    registry = ModelRegistry.of(envs["staging"])
    registry.clear_alias("churn", "production", actor="someone", reason="manual")
    with pytest.raises(ConflictError, match="points at None, not 1"):
        conclude(envs, "staging", run, "promote")
    registry.set_alias("churn", "production", 1, actor="someone", reason="manual, back")
    # THEN the abort step puts the challenger back as it was (unset) and releases the lock
    result = abort(envs, "staging", run, "ConflictError", json.dumps({"errorMessage": "moved meanwhile"}))
    assert result == {"Error": "ConflictError", "Cause": "moved meanwhile"}
    assert aliases(envs, "staging") == {"production": 1}
    record = get_run(envs["staging"], "s2")
    assert record is not None and record["status"] == "FAILED" and record["undone"] == ["challenger 2 → cleared"]
    assert envs["staging"].table.get(*layout.promotion_lock_key("churn")) is None
    # AND a second abort (a retry) changes nothing more
    abort(envs, "staging", run, "ConflictError", "again")
    assert aliases(envs, "staging") == {"production": 1}


def test_an_abort_keeps_a_move_someone_made_after_the_promotion(envs: Environments) -> None:
    promote_directly(envs, "staging", "churn@1", "s1")
    run = begin_canary(envs, "staging", through_register(envs, "staging", start(envs, "staging", "churn@2", "s2")))
    registry = ModelRegistry.of(envs["staging"])
    registry.set_alias("churn", "challenger", 1, actor="someone", reason="manual", weight=0.5)
    abort(envs, "staging", run, "States.Runtime")
    assert registry.alias("churn", "challenger") == 1
    assert get_run(envs["staging"], "s2")["undone"] == [  # type: ignore[index]
        "challenger kept at 1 (moved after this promotion left it at 2)"
    ]


def test_a_rejected_or_timed_out_approval_ends_the_promotion_with_aliases_unchanged(envs: Environments) -> None:
    promote_directly(envs, "staging", "churn@1", "s1")
    for execution, error, status in (("p1", "ApprovalRejected", "REJECTED"), ("p2", "ApprovalTimedOut", "TIMED_OUT")):
        run = through_register(envs, "prod", start(envs, "prod", "churn@production", execution))
        ask_approval(envs, "prod", run)
        abort(envs, "prod", run, error, "no")
        record = get_run(envs["prod"], execution)
        assert record is not None and (record["status"], record["error"]) == (status, error)
        assert aliases(envs, "prod") == {}
        approvals = envs["prod"].table.query(*layout.approvals("churn", "prod"))
        assert [a["status"] for a in approvals if a["execution"] == execution] == [
            status.replace("REJECTED", "REJECTED")
        ]
        assert envs["prod"].table.get(*layout.promotion_lock_key("churn")) is None


def test_the_online_metric_is_read_from_feedback_in_the_bake_window(envs: Environments) -> None:
    # GIVEN dev's version 3, trained under a spec whose deployment judges online accuracy from 20 labelled rows
    from slipway.stores.specs import push_spec
    from slipway_cli.samples import make_churn
    from tests.unit.steps.support import churn_csv, run_pipeline, spec_text

    online = "  rollback:                  # any one over"
    spec = spec_text(
        replace={
            online: "  rollback:\n    online_metric: {metric: accuracy, max_drop: 0.0, min_samples: 20}\n"
            "    # any one over"
        }
    )
    push_spec(envs["dev"], spec)
    run_pipeline(envs["dev"], "run-3", "churn/january.csv", churn_csv(seed=9), until="register")
    promote_directly(envs, "staging", "churn@1", "s1")
    run = begin_canary(envs, "staging", through_register(envs, "staging", start(envs, "staging", "churn@3", "s3")))
    # WHEN customers are served and their outcomes come back on /feedback
    service = InferenceService(envs["staging"], alias_ttl_s=0)
    truth = make_churn(n_rows=800, seed=3)["churned"].tolist()
    for k, row in enumerate(rows(800, seed=3)):
        service.predict("churn", [{**row, "customer_id": f"C{k:06d}"}], f"req-{k}")
        service.feedback("churn", [{"request_id": f"req-{k}", "row": 0, "actual": int(truth[k])}], f"fb-{k}")
    assert service.captures.flush()
    land_captures(envs, "staging")
    judge_canary(envs, "staging", run)
    # THEN the report carries each side's accuracy on its labelled rows, and the check judged it
    assert run.verdict is not None
    report = envs.store.get_json(S3Object.parse(run.verdict.report_uri))
    check = next(c for c in report["checks"] if c["name"] == "online_accuracy")
    assert report["challenger"]["labelled"] + report["champion"]["labelled"] == 800
    assert 0.5 < report["champion"]["online"] <= 1 and 0.5 < report["challenger"]["online"] <= 1
    assert check["passed"] == (report["champion"]["online"] - report["challenger"]["online"] <= 0.0)
    assert check["value"] == report["challenger"]["online"]
