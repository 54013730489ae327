"""The batch_inference machine in the local cloud, driven as `slipway score` drives it: a model trained by the
training machine scores 1,000,000 rows in four Parquet parts through a Distributed Map, and every sampled row
equals the served model's one-row answer and the registered scikit-learn pipeline's; a part with bad rows fails
the run DataContractViolation with its report; a prefix with nothing to score fails NotFound."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from slipway import layout
from slipway.domain.features import model_input_frame
from slipway.objects import S3Object
from slipway.serving.models import ModelCache, ServedModel
from slipway.serving.rows import served_columns
from slipway.stores.artifacts import load_verified_model
from slipway.stores.batch_runs import parts_of
from slipway.stores.features import feature_inputs
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import get_run
from slipway.stores.specs import push_spec, spec_at
from slipway_cli import main as cli
from slipway_cli import scoring
from slipway_cli.samples import make_churn, to_csv_bytes, to_parquet_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import spec_variant, upload_and_wait

MODEL = "churn-batch"  # the churn spec under its own name: its versions and aliases are this module's own
PARTS, ROWS_PER_PART = 4, 250_000  # 1,000,000 rows
SAMPLE_PER_PART = 50  # rows per part also sent alone through the served model
PIPELINE_SAMPLE_PER_PART = 10_000  # rows per part also scored by the registered scikit-learn pipeline


def customers(n: int, seed: int) -> pd.DataFrame:
    """Customers to score as a data engineer exports them: the churn sample without its target."""
    return make_churn(n_rows=n, seed=seed).drop(columns=["churned"])


def json_row(frame: pd.DataFrame, n: int) -> dict[str, Any]:
    """Row ``n`` as a client sends it to the HTTP API (timestamps as ISO text, NaN as null)."""
    row: dict[str, Any] = {}
    for k, v in frame.iloc[n].items():
        if isinstance(v, pd.Timestamp):
            row[str(k)] = v.isoformat()
        elif isinstance(v, float) and np.isnan(v):
            row[str(k)] = None
        else:
            row[str(k)] = v.item() if isinstance(v, np.generic) else v
    return row


def put(cloud: LocalCloud, dev: Target, key: str, body: bytes) -> None:
    cloud.client("s3", "dev").put_object(Bucket=dev.outputs["LakeBucketName"], Key=key, Body=body)


def lake_uri(dev: Target, prefix: str) -> str:
    return f"s3://{dev.outputs['LakeBucketName']}/{prefix}"


def score_with_the_cli(
    dev: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any]]:
    """`slipway score REF URI --wait --json`, with the CLI's target being the local cloud's dev environment."""
    monkeypatch.setattr(cli, "_target", lambda _: dev)
    capsys.readouterr()
    code = cli.main(["score", *args, "--wait", "--json"])
    return code, json.loads(capsys.readouterr().out)


def history(cloud: LocalCloud, arn: str) -> list[dict[str, Any]]:
    sfn = cloud.admin_client("stepfunctions", "dev")
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def production(cloud: LocalCloud, dev: Target) -> dict[str, Any]:
    """A version trained by the training machine from an upload, then put in production."""
    push_spec(dev.deps, spec_variant(MODEL))
    trained = upload_and_wait(cloud, "dev", f"{MODEL}/train-2026-11-25.csv", to_csv_bytes(make_churn(3_000, seed=41)))
    assert trained.status == "SUCCEEDED", trained.execution.get("cause")
    version = trained.output["model"]["version"]
    registry = ModelRegistry.of(dev.deps)
    registry.set_alias(MODEL, "production", version, actor="test", reason="batch scoring test")
    return registry.get_version(MODEL, version)


@pytest.fixture(scope="module")
def served(dev: Target, production: dict[str, Any]) -> ServedModel:
    """The version as the HTTP API serves it: its ONNX artifact, loaded after its SHA-256 matched."""
    contract = spec_at(dev.deps, MODEL, production["spec_version"]).data
    columns = served_columns(contract, [i["name"] for i in production["inputs"]])
    return ModelCache(dev.deps.store).get(production, contract, columns)


def test_a_million_rows_in_four_parts_score_like_one_row_requests_and_the_registered_pipeline(
    cloud: LocalCloud, dev: Target, production: dict[str, Any], served: ServedModel
) -> None:
    # GIVEN 1,000,000 customers in four Parquet parts under a lake prefix
    prefix = f"scoring/{MODEL}/2026-11-25/"
    frames = {f"part-{i:04d}.parquet": customers(ROWS_PER_PART, seed=100 + i) for i in range(PARTS)}
    for name, frame in frames.items():
        put(cloud, dev, prefix + name, to_parquet_bytes(frame))

    # WHEN `slipway score churn-batch@production s3://…/prefix/` runs to its end
    started = time.perf_counter()
    run = scoring.start(dev, f"{MODEL}@production", lake_uri(dev, prefix))
    described = scoring.follow(run, timeout_s=900, every_s=0.2)
    elapsed = time.perf_counter() - started

    # THEN it succeeded through a Distributed Map with one child per part, and says where and how many
    assert described["status"] == "SUCCEEDED", described.get("cause")
    events = history(cloud, run.arn)
    assert [e["type"] for e in events if e["type"].startswith("MapRun")] == ["MapRunStarted", "MapRunSucceeded"]
    version = int(production["version"])
    summary = json.loads(described["output"])["summary"]
    output = layout.predictions_uri(dev.outputs["LakeBucketName"], MODEL, version, run.name)
    assert (summary["version"], summary["rows"], summary["parts"], summary["output_uri"]) == (
        version,
        1_000_000,
        PARTS,
        output,
    )
    assert summary["onnx_sha256"] == production["artifacts"][layout.MODEL_ONNX]["sha256"]
    print(
        f"\nbatch scoring: {summary['rows']:,} rows in {summary['parts']} parts with {production['algorithm']}: "
        f"{elapsed:.1f} s from start to SUCCEEDED in the local cloud, {summary['seconds']:.1f} s of part scoring"
    )
    for part in parts_of(dev.deps, run.name):
        print(f"  {part['part']}: {part['rows']:,} rows in {part['seconds']:.2f} s {part['timings']}")
    assert dev.deps.store.get_json(S3Object.parse(summary["summary_uri"]))["rows"] == 1_000_000
    record = get_run(dev.deps, run.name) or {}
    assert (record["status"], record["kind"], record["rows"]) == ("SUCCEEDED", "batch_inference", 1_000_000)

    pipeline = load_verified_model(dev.deps.store, production["artifacts"][layout.MODEL_SKOPS])
    rng = np.random.default_rng(0)
    for name, frame in frames.items():
        body = dev.deps.store.get_bytes(S3Object.parse(output + name))
        table = pq.read_table(io.BytesIO(body))

        # AND each part's predictions line up with its rows: position and customer id
        assert table.num_rows == ROWS_PER_PART
        assert table.column("row").to_numpy().tolist() == list(range(ROWS_PER_PART))
        assert table.column("customer_id").to_pylist() == frame["customer_id"].tolist()
        probability = table.column("probability_1").to_numpy()
        predicted = table.column("prediction").to_numpy()

        # AND sampled rows equal the served model's answer to the same row sent alone (to float32 rounding)
        for n in rng.choice(ROWS_PER_PART, SAMPLE_PER_PART, replace=False):
            predictions, probabilities, _ = served.predict([json_row(frame, int(n))])
            assert probabilities is not None
            assert probability[n] == pytest.approx(probabilities[0]["1"], abs=1e-6)
            if abs(probability[n] - 0.5) > 1e-6:  # a tie within rounding may fall either way
                assert predicted[n] == predictions[0]

        # AND the registered scikit-learn pipeline gives the same probabilities (within ONNX's float32)
        rows = np.sort(rng.choice(ROWS_PER_PART, PIPELINE_SAMPLE_PER_PART, replace=False))
        sample = frame.iloc[rows].reset_index(drop=True)
        expected = pipeline.predict_proba(model_input_frame(pa_table(sample), feature_inputs(production["inputs"])))
        np.testing.assert_allclose(probability[rows], expected[:, 1], atol=1e-5)


def pa_table(frame: pd.DataFrame) -> Any:
    """The frame as the contract types it (the training path reads curated tables, not raw frames)."""
    import pyarrow as pa

    from slipway.domain.validation import validate_table
    from slipway.spec import load_spec

    contract = load_spec(spec_variant(MODEL)).data
    typed, report = validate_table(pa.Table.from_pandas(frame, preserve_index=False), contract)
    assert {c for c, _ in report.checks} <= {"churned"}  # only the target is absent
    return typed


def test_a_part_with_rows_that_break_the_contract_fails_the_run_with_its_report(
    cloud: LocalCloud,
    dev: Target,
    production: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a clean Parquet part, a clean CSV part, and a part with impossible ages on rows 3 and 1,500
    prefix = f"scoring/{MODEL}/broken/"
    bad = customers(2_000, seed=8)
    bad.loc[[3, 1_500], "age"] = 150
    put(cloud, dev, prefix + "a.parquet", to_parquet_bytes(customers(2_000, seed=7)))
    put(cloud, dev, prefix + "b.parquet", to_parquet_bytes(bad))
    put(cloud, dev, prefix + "c.csv", to_csv_bytes(customers(2_000, seed=9)))

    # WHEN the prefix is scored with the CLI
    code, result = score_with_the_cli(dev, monkeypatch, capsys, f"{MODEL}@production", lake_uri(dev, prefix))

    # THEN the command fails, naming the typed error, the part, the check and its report
    assert code == 1
    assert (result["status"], result["error"]) == ("FAILED", "DataContractViolation")
    assert "1 of 3 parts" in result["cause"] and "b.parquet: age max x2" in result["cause"]
    assert [(p["part"], p["status"]) for p in result["parts"]] == [("b.parquet", "REJECTED")]
    report = dev.deps.store.get_json(S3Object.parse(result["parts"][0]["report_uri"]))
    assert [(f["column"], f["check"], f["examples"]) for f in report["failures"]] == [("age", "max", [3, 1500])]

    # AND the Map failed as AWS fails it (past its tolerance), and the failure was explained and recorded
    events = history(cloud, result["execution_arn"])
    failed = next(e for e in events if e["type"] == "MapRunFailed")
    assert failed["mapRunFailedEventDetails"]["error"] == "States.ExceedToleratedFailureThreshold"
    record = get_run(dev.deps, result["run_id"]) or {}
    assert (record["status"], record["error_type"]) == ("FAILED", "DataContractViolation")

    # AND the clean parts were scored (CSV too), but no summary marks the prefix complete
    statuses = {p["part"]: p["status"] for p in parts_of(dev.deps, result["run_id"])}
    assert statuses == {"a.parquet": "SCORED", "b.parquet": "REJECTED", "c.csv": "SCORED"}
    summary = layout.predictions_summary(
        dev.outputs["LakeBucketName"], MODEL, int(production["version"]), result["run_id"]
    )
    assert not dev.deps.store.exists(summary)


@pytest.mark.parametrize(
    ("ref", "prefix", "error", "cause"),
    [
        (f"{MODEL}@production", "scoring/nothing-here/", "NotFound", "no Parquet or CSV parts"),
        (f"{MODEL}@challenger", f"scoring/{MODEL}/2026-11-25/", "NotFound", "no alias 'challenger'"),
    ],
)
def test_a_run_with_nothing_to_score_or_no_such_version_fails_typed(
    cloud: LocalCloud,
    dev: Target,
    production: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ref: str,
    prefix: str,
    error: str,
    cause: str,
) -> None:
    code, result = score_with_the_cli(dev, monkeypatch, capsys, ref, lake_uri(dev, prefix))
    assert code == 1
    assert result["error"] == error and cause in result["cause"], result
    assert (get_run(dev.deps, result["run_id"]) or {}).get("error_type") == error
