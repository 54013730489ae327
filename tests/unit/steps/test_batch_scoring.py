"""Batch scoring on the fakes, driven as the batch_inference machine drives it (resolve → one score_part per
object under the prefix → conclude, or the failure explained): predictions equal the served model's one-row
answers and the registered pipeline's, the version is pinned by its ONNX SHA-256, a part with rows that break
the data contract is rejected with a report and fails the run typed, markers are skipped, retries rewrite the
same keys."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slipway import layout
from slipway.contracts.batch import (
    BatchFailure,
    BatchSummary,
    ConcludeBatchRequest,
    PartRequest,
    ResolvedBatch,
    ScoreRequest,
)
from slipway.domain.features import model_input_columns, model_input_frame
from slipway.domain.table_input import model_input_from_table
from slipway.errors import ArtifactIntegrityError, InvalidEvent, NotFound, SlipwayError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.serving.models import ModelCache
from slipway.serving.rows import served_columns
from slipway.steps.batch.conclude_batch import conclude_batch
from slipway.steps.batch.resolve_batch import resolve_batch
from slipway.steps.batch.score_part import score_part
from slipway.steps.training.register_version import register_version
from slipway.stores.artifacts import load_verified_model
from slipway.stores.batch_runs import parts_of
from slipway.stores.features import feature_inputs
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import get_run
from slipway.stores.specs import spec_at
from slipway_cli.samples import make_churn, to_parquet_bytes
from tests.fakes import fork
from tests.unit.steps.support import Pipeline, register_request, store_keys

PREFIX = "scoring/churn/2026-11-25/"


@dataclass(frozen=True)
class Registered:
    deps: Deps
    version: int


@pytest.fixture(scope="module")
def registered(evaluated: Pipeline) -> Registered:
    """The evaluated churn run registered as version 1 and put in production."""
    deps = fork(evaluated.deps)
    run = evaluated.run
    version = register_version(deps, register_request(run.run_id, run.dataset, run.features, run.evaluated)).version
    ModelRegistry.of(deps).set_alias("churn", "production", version, actor="test", reason="serve")
    return Registered(deps, version)


def inputs(n: int, seed: int) -> pd.DataFrame:
    """Customers to score, as a data engineer exports them: the churn sample without its target."""
    return make_churn(n_rows=n, seed=seed).drop(columns=["churned"])


def put_parts(deps: Deps, parts: dict[str, bytes], prefix: str = PREFIX) -> None:
    for name, body in parts.items():
        deps.store.put_bytes(S3Object(bucket=deps.settings.lake_bucket, key=prefix + name), body)


@dataclass
class Outcome:
    resolved: ResolvedBatch
    result: BatchSummary | BatchFailure
    child_errors: list[SlipwayError]


def run_batch(deps: Deps, run_id: str, ref: str = "churn@production", prefix: str = PREFIX) -> Outcome:
    """What the machine does: Resolve, one ScorePart per object the ItemReader lists, then Conclude — or, when a
    child failed, the Map fails (States.ExceedToleratedFailureThreshold) and ExplainFailure concludes."""
    event = {"run_id": run_id, "ref": ref, "input": f"s3://{deps.settings.lake_bucket}/{prefix}"}
    resolved = resolve_batch(deps, ScoreRequest.from_event(event))
    models = ModelCache(deps.store)
    errors: list[SlipwayError] = []
    for key in store_keys(deps, deps.settings.lake_bucket, prefix):
        request = PartRequest.from_event({"batch": resolved.model_dump(mode="json"), "key": key})
        try:
            score_part(deps, request, models)
        except SlipwayError as e:
            errors.append(e)
    if errors:
        error = {
            "Error": "States.ExceedToleratedFailureThreshold",
            "Cause": "The tolerated failure threshold was exceeded",
        }
        return Outcome(
            resolved, conclude_batch(deps, ConcludeBatchRequest.from_event({"run_id": run_id, "error": error})), errors
        )
    return Outcome(resolved, conclude_batch(deps, ConcludeBatchRequest.from_event({"run_id": run_id})), errors)


def read_predictions(deps: Deps, uri: str) -> pa.Table:
    return pq.read_table(io.BytesIO(deps.store.get_bytes(S3Object.parse(uri))))


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The same rows as a client sends them to the HTTP API (timestamps as ISO text, NaN as null)."""
    records = frame.to_dict(orient="records")
    for r in records:
        r["signup_date"] = r["signup_date"].isoformat()
        for k, v in list(r.items()):
            if isinstance(v, float) and np.isnan(v):
                r[k] = None
            elif isinstance(v, np.generic):
                r[k] = v.item()
    return records


def test_a_prefix_of_parts_is_scored_like_one_row_requests_and_the_registered_pipeline(registered: Registered) -> None:
    # GIVEN version 1 in production and three Parquet parts (one in a sub-folder) plus Spark's _SUCCESS marker
    deps = fork(registered.deps)
    frames = {"part-0.parquet": inputs(400, 1), "part-1.parquet": inputs(250, 2), "eu/part-2.parquet": inputs(50, 3)}
    put_parts(deps, {name: to_parquet_bytes(f) for name, f in frames.items()} | {"_SUCCESS": b""})

    # WHEN the prefix is scored by the production alias
    outcome = run_batch(deps, "score-1")

    # THEN the run succeeded with every row of every part, the marker skipped, and the summary written last
    summary = outcome.result
    assert isinstance(summary, BatchSummary), summary
    assert (summary.version, summary.parts, summary.rows, summary.skipped) == (1, 3, 700, ["_SUCCESS"])
    item = ModelRegistry.of(deps).get_version("churn", 1)
    assert summary.onnx_sha256 == item["artifacts"][layout.MODEL_ONNX]["sha256"]
    output = layout.predictions_uri(deps.settings.lake_bucket, "churn", 1, "score-1")
    assert summary.output_uri == output
    written = deps.store.get_json(S3Object.parse(summary.summary_uri))
    assert [f["part"] for f in written["files"]] == ["eu/part-2.parquet", "part-0.parquet", "part-1.parquet"]
    run = get_run(deps, "score-1") or {}
    assert (run["status"], run["kind"], run["model_version"], run["rows"]) == ("SUCCEEDED", "batch_inference", 1, 700)

    # AND each part's predictions sit at its own path, row by row beside the input's position and customer id
    contract = spec_at(deps, "churn", item["spec_version"]).data
    served = ModelCache(deps.store).get(item, contract, served_columns(contract, [i["name"] for i in item["inputs"]]))
    pipeline = load_verified_model(deps.store, item["artifacts"][layout.MODEL_SKOPS])
    for name, frame in frames.items():
        table = read_predictions(deps, f"{output}{name}")
        assert table.column_names == ["source", "row", "customer_id", "prediction", "probability_0", "probability_1"]
        assert set(table.column("source").to_pylist()) == {name}
        assert table.column("row").to_pylist() == list(range(len(frame)))
        assert table.column("customer_id").to_pylist() == frame["customer_id"].tolist()
        assert table.schema.metadata[b"slipway.onnx_sha256"].decode() == summary.onnx_sha256

        # AND each row is the served model's answer to the row sent alone (the HTTP API's path), to float32 rounding
        for n, row in enumerate(json_rows(frame)[:40]):
            predictions, probabilities, _ = served.predict([row])
            assert table.column("prediction")[n].as_py() == predictions[0]
            assert probabilities is not None
            assert table.column("probability_1")[n].as_py() == pytest.approx(probabilities[0]["1"], abs=1e-6)

        # AND the registered scikit-learn pipeline's probabilities on every row (within ONNX's float32)
        expected = pipeline.predict_proba(model_input_frame(json_rows(frame), feature_inputs(item["inputs"])))[:, 1]
        np.testing.assert_allclose(table.column("probability_1").to_numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("ref", ["churn", "churn@1", "churn@production", "churn@candidate"])
def test_every_kind_of_reference_resolves_to_the_version_and_pins_its_onnx_sha256(
    registered: Registered, ref: str
) -> None:
    deps = fork(registered.deps)
    resolved = resolve_batch(
        deps, ScoreRequest(run_id="score-ref", ref=ref, input=f"s3://{deps.settings.lake_bucket}/x/")
    )
    item = ModelRegistry.of(deps).get_version("churn", 1)
    assert (resolved.model, resolved.version) == ("churn", 1)
    assert resolved.onnx_sha256 == item["artifacts"][layout.MODEL_ONNX]["sha256"]
    run = get_run(deps, "score-ref") or {}
    assert (run["model_version"], run["onnx_sha256"], run["ref"]) == (1, resolved.onnx_sha256, ref)


@pytest.mark.parametrize(
    ("ref", "bucket", "error"),
    [
        ("churn@challenger", "lake", NotFound),  # no version holds the alias
        ("churn@7", "lake", NotFound),
        ("fraud", "lake", NotFound),
        ("churn", "someone-elses-bucket", InvalidEvent),  # scoring reads only this environment's buckets
    ],
)
def test_an_unresolvable_reference_or_bucket_fails_before_any_part_is_read(
    registered: Registered, ref: str, bucket: str, error: type[Exception]
) -> None:
    deps = fork(registered.deps)
    with pytest.raises(error):
        resolve_batch(deps, ScoreRequest(run_id="score-bad", ref=ref, input=f"s3://{bucket}/scoring/"))

    # AND the failure, explained, is recorded on the run with its typed error
    failure = conclude_batch(
        deps, ConcludeBatchRequest(run_id="score-bad", error={"Error": error.__name__, "Cause": "x"})
    )
    assert isinstance(failure, BatchFailure) and failure.error == error.__name__
    assert (get_run(deps, "score-bad") or {})["status"] == "FAILED"


def _tamper_onnx(deps: Deps) -> None:
    item = ModelRegistry.of(deps).get_version("churn", 1)
    onnx = S3Object.parse(item["artifacts"][layout.MODEL_ONNX]["uri"])
    deps.store.put_bytes(onnx, deps.store.get_bytes(onnx) + b"\x00")


def test_a_tampered_onnx_artifact_stops_the_run_before_any_part_is_scored(registered: Registered) -> None:
    deps = fork(registered.deps)
    put_parts(deps, {"part-0.parquet": to_parquet_bytes(inputs(50, 1))})
    _tamper_onnx(deps)

    with pytest.raises(ArtifactIntegrityError):
        run_batch(deps, "score-tampered")
    assert store_keys(deps, deps.settings.lake_bucket, "predictions/") == []


def test_an_artifact_tampered_during_the_run_is_refused_by_the_parts_and_fails_the_run_typed(
    registered: Registered,
) -> None:
    # GIVEN a run resolved while the artifact was intact
    deps = fork(registered.deps)
    put_parts(deps, {"part-0.parquet": to_parquet_bytes(inputs(50, 1))})
    resolved = resolve_batch(
        deps, ScoreRequest(run_id="score-mid", ref="churn", input=f"s3://{deps.settings.lake_bucket}/{PREFIX}")
    )
    _tamper_onnx(deps)

    # WHEN a part is scored after the bytes changed
    request = PartRequest(batch=resolved, key=f"{PREFIX}part-0.parquet")
    with pytest.raises(ArtifactIntegrityError):
        score_part(deps, request, ModelCache(deps.store))

    # THEN nothing was written, and the run fails with the part's typed error
    assert store_keys(deps, deps.settings.lake_bucket, "predictions/") == []
    error = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": ""}
    failure = conclude_batch(deps, ConcludeBatchRequest(run_id="score-mid", error=error))
    assert isinstance(failure, BatchFailure)
    assert failure.error == "ArtifactIntegrityError" and "part-0.parquet" in failure.cause


def test_a_part_with_rows_that_break_the_contract_is_rejected_with_a_report_and_fails_the_run(
    registered: Registered,
) -> None:
    # GIVEN two clean parts and one with an impossible age, a negative charge and an unknown plan on known rows
    deps = fork(registered.deps)
    bad = inputs(300, 2)
    bad["plan"] = bad["plan"].astype(str)
    bad.loc[[5, 17], "age"] = 140
    bad.loc[[9], "monthly_charges"] = -3.0
    bad.loc[[40, 41, 42], "plan"] = "platinum"
    put_parts(
        deps,
        {
            "part-0.parquet": to_parquet_bytes(inputs(100, 1)),
            "part-1.parquet": to_parquet_bytes(bad),
            "part-2.parquet": to_parquet_bytes(inputs(100, 3)),
        },
    )

    # WHEN the prefix is scored
    outcome = run_batch(deps, "score-bad-rows")

    # THEN the run fails DataContractViolation naming the part and each check
    failure = outcome.result
    assert isinstance(failure, BatchFailure)
    assert failure.error == "DataContractViolation"
    assert "1 of 3 parts" in failure.cause and "part-1.parquet" in failure.cause
    assert all(check in failure.cause for check in ("age max x2", "monthly_charges min x1", "plan allowed x3"))
    run = get_run(deps, "score-bad-rows") or {}
    assert (run["status"], run["error_type"]) == ("FAILED", "DataContractViolation")

    # AND the report names every failed check with the rows within the part
    where = layout.predictions_rejected(deps.settings.lake_bucket, "churn", 1, "score-bad-rows", "part-1.parquet")
    report = deps.store.get_json(where)
    found = {(f["column"], f["check"]): f["examples"] for f in report["failures"]}
    assert found == {("age", "max"): [5, 17], ("monthly_charges", "min"): [9], ("plan", "allowed"): [40, 41, 42]}
    assert report["rows"] == 300 and report["input_uri"].endswith("part-1.parquet")

    # AND the rejected part has no predictions and no summary marks the prefix complete
    written = store_keys(deps, deps.settings.lake_bucket, "predictions/churn/1/score-bad-rows/")
    assert not any(k.endswith("part-1.parquet") for k in written)
    assert not any(k.endswith("_summary.json") for k in written)
    assert {p["part"]: p["status"] for p in parts_of(deps, "score-bad-rows")} == {
        "part-0.parquet": "SCORED",
        "part-1.parquet": "REJECTED",
        "part-2.parquet": "SCORED",
    }


def test_a_part_missing_a_model_input_or_not_parquet_is_rejected_naming_it(registered: Registered) -> None:
    deps = fork(registered.deps)
    put_parts(
        deps,
        {"a.parquet": to_parquet_bytes(inputs(20, 1).drop(columns=["tenure_months"])), "b.parquet": b"not parquet"},
    )
    outcome = run_batch(deps, "score-unreadable")
    assert isinstance(outcome.result, BatchFailure) and outcome.result.error == "DataContractViolation"
    assert (
        "tenure_months missing_column" in outcome.result.cause and "b.parquet: <table> readable" in outcome.result.cause
    )


def test_columns_the_model_does_not_read_are_ignored_and_a_part_without_entity_ids_still_scores(
    registered: Registered,
) -> None:
    # GIVEN a part carrying the target, an unknown column, and no customer ids
    deps = fork(registered.deps)
    frame = make_churn(n_rows=30, seed=4).drop(columns=["customer_id"]).assign(batch_date="2026-11-25")
    put_parts(deps, {"p.parquet": to_parquet_bytes(frame)})

    outcome = run_batch(deps, "score-extra")

    assert isinstance(outcome.result, BatchSummary) and outcome.result.rows == 30
    table = read_predictions(deps, outcome.result.output_uri + "p.parquet")
    assert table.column_names == ["source", "row", "prediction", "probability_0", "probability_1"]


def test_a_prefix_with_nothing_to_score_fails_not_found(registered: Registered) -> None:
    deps = fork(registered.deps)
    put_parts(deps, {"_SUCCESS": b"", "notes.txt": b"hello"})
    with pytest.raises(NotFound, match="no Parquet or CSV parts"):
        run_batch(deps, "score-empty")


def test_a_retried_part_rewrites_the_same_keys(registered: Registered) -> None:
    # GIVEN a scored run
    deps = fork(registered.deps)
    put_parts(deps, {"part-0.parquet": to_parquet_bytes(inputs(60, 1))})
    outcome = run_batch(deps, "score-retry")
    assert isinstance(outcome.result, BatchSummary)
    keys_before = store_keys(deps, deps.settings.lake_bucket, "predictions/")
    first = read_predictions(deps, outcome.result.output_uri + "part-0.parquet")

    # WHEN its part is scored again (a Retry after a lost response)
    request = PartRequest(batch=outcome.resolved, key=f"{PREFIX}part-0.parquet")
    score_part(deps, request, ModelCache(deps.store))

    # THEN the same objects hold the same predictions and the run has one record of the part
    assert store_keys(deps, deps.settings.lake_bucket, "predictions/") == keys_before
    assert read_predictions(deps, outcome.result.output_uri + "part-0.parquet").equals(first)
    assert len(parts_of(deps, "score-retry")) == 1


def test_the_arrow_feed_equals_the_training_paths_frame(registered: Registered) -> None:
    # GIVEN rows typed by the data contract, as validation types them
    from slipway.domain.validation import validate_table

    deps = registered.deps
    item = ModelRegistry.of(deps).get_version("churn", 1)
    contract = spec_at(deps, "churn", item["spec_version"]).data
    typed, report = validate_table(pa.Table.from_pandas(make_churn(n_rows=200, seed=9), preserve_index=False), contract)
    assert report.ok
    features = feature_inputs(item["inputs"])

    # WHEN the batch path and the training path build the model's input
    batch = model_input_from_table(typed, features)
    training = model_input_columns(model_input_frame(typed, features), features)

    # THEN they are the same arrays, dtype for dtype
    assert batch.keys() == training.keys()
    for name in batch:
        assert batch[name].dtype == training[name].dtype, name
        np.testing.assert_array_equal(batch[name], training[name], err_msg=name)


def test_requests_name_each_field_at_fault() -> None:
    with pytest.raises(InvalidEvent) as caught:
        ScoreRequest.from_event({"run_id": "r", "ref": "churn", "input": "lake/prefix"})
    assert caught.value.details["errors"][0]["field"] == "input"
    assert json.loads(json.dumps(caught.value.details))  # JSON-able for the Cause
