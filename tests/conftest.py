"""Shared fixtures: one local cloud per test session (three accounts, the real template), the
dev environment as an operator sees it, and helpers to upload and wait like a user."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from slipway_cli.target import Target, target_in
from slipway_local import LocalCloud

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS = REPO_ROOT / "events"
SPECS = REPO_ROOT / "specs"


def load_event(relative: str) -> dict[str, Any]:
    return json.loads((EVENTS / relative).read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloud]:
    """The template's functions run in-process here (SLIPWAY_TEST_LAMBDA=processes: in worker processes, as
    `slipway local up`, the demo and the e2e tier run them; the whole suite then takes about twice as long,
    mostly cold starts); functions deployed with LocalCloud.deploy_function run in workers either way. Each account
    is deployed by the user's path (the bootstrap stack, then `slipway deploy` through SAM CLI as the deployment role:
    about 47 s for the three instead of 13 s; SLIPWAY_LOCAL_DEPLOY=fast creates the stacks as the accounts' root)."""
    processes = os.environ.get("SLIPWAY_TEST_LAMBDA", "threads") == "processes"
    with LocalCloud(lambda_processes=processes) as local_cloud:
        yield local_cloud


@pytest.fixture(autouse=True)
def no_fault_outlives_its_test() -> Iterator[None]:
    """Faults a test injected into the session's local cloud and did not use up end with the test."""
    yield
    from slipway_local.faults import INJECTOR, STEP_FAULTS

    INJECTOR.clear()
    STEP_FAULTS.clear()


@pytest.fixture(scope="session")
def dev(cloud: LocalCloud) -> Target:
    return target_in(cloud, "dev")


@pytest.fixture(scope="session")
def dev_api_url(cloud: LocalCloud) -> str:
    """dev's HTTP API on 127.0.0.1 (also its HttpApiUrl output); its IAM-authorized routes want
    SigV4-signed requests: ``cloud.signed_headers("dev", method, url, body)`` gives the headers."""
    return cloud.api_url("dev")


@pytest.fixture(scope="session")
def churn_spec(dev: Target) -> dict[str, Any]:
    """The example churn spec, pushed to dev as `slipway spec push specs/churn.yaml --env dev` does."""
    from slipway.stores.specs import push_spec

    return push_spec(dev.deps, (SPECS / "churn.yaml").read_text())


def spec_variant(name: str, **replace: str) -> str:
    """specs/churn.yaml under another model name, with some text replaced (each must be present)."""
    text = (SPECS / "churn.yaml").read_text().replace("name: churn", f"name: {name}", 1)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


# spec_variant replacements: the churn spec's three candidates become one small forest (cheap to train; a logistic
# regression on the unscaled signup year fails the gate at 40k rows)
ONE_FOREST = {
    """    - algorithm: logistic_regression
      grid: {C: [0.1, 1.0]}
    - algorithm: random_forest
      grid: {n_estimators: [60], max_depth: [8]}
    - algorithm: gradient_boosting
      grid: {n_estimators: [60], max_depth: [3]}
""": """    - algorithm: random_forest
      grid: {n_estimators: [20], max_depth: [6]}
""",
}
# Uploads in parts, as awscli sends a file above 8 MB; 5 MiB parts are the smallest S3 allows.
MULTIPART = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)


@dataclass
class Upload:
    key: str
    version_id: str
    execution_arn: str
    execution: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.execution["status"])

    @property
    def output(self) -> dict[str, Any]:
        return json.loads(self.execution.get("output") or "{}")  # type: ignore[no-any-return]


def upload_and_wait(cloud: LocalCloud, env: str, key: str, body: bytes) -> Upload:
    """Upload to the environment's raw bucket as its operator, then wait for the run it starts."""
    known = {e["executionArn"] for e in cloud.executions(env)}
    s3 = cloud.client("s3", env)
    put = s3.put_object(Bucket=cloud.environments[env].outputs["RawBucketName"], Key=key, Body=body)
    arn = cloud.wait_for_new_execution(env, known)
    return Upload(key, put["VersionId"], arn, cloud.wait_for_execution(env, arn))


# The files that take longest, slowest first (seconds measured serially with --durations=0 on a loaded 2-core
# machine, 1,107 s in all; see pytest_collection_modifyitems). A file not listed runs after these, in collection
# order; a stale list costs only balance, never a test.
SLOWEST_FIRST: tuple[str, ...] = (
    # First on its worker, on the worker's fresh local cloud: it counts the DynamoDB and S3 requests of console pages
    # over a runs listing that holds only its own runs (another file's runs before them, in the listing shared by
    # every model, change those counts: the helper of issue 22 noted it; making the counts independent is open)
    "tests/functional/test_console_lists.py",  # 20 s
    "tests/statemachines/test_promotion.py",  # 167 s
    "tests/e2e/test_deploy_rehearsal.py",  # 130 s (two first deploys through SAM CLI; the integration job's training)
    "tests/statemachines/test_serving_api.py",  # 145 s (schemathesis fuzz)
    "tests/reliability/test_concurrent_uploads.py",  # 93 s
    "tests/statemachines/test_drift_retraining.py",  # 91 s (the closed loop across the three accounts; load 7)
    "tests/e2e/test_local_server.py",  # 86 s (`slipway local up` in a subprocess)
    "tests/reliability/test_step_faults.py",  # 72 s
    "tests/reliability/test_hostile_uploads.py",  # 61 s
    "tests/statemachines/test_training_pipeline.py",  # 43 s
    "tests/browser/test_console.py",  # 20 s (three trainings, two promotions, Chromium on every page)
    "tests/statemachines/test_one_run_per_object.py",  # 40 s
    "tests/statemachines/test_batch_inference.py",  # 31 s
    "tests/statemachines/test_sklearn_datasets.py",  # 30 s
    "tests/statemachines/test_training_validate.py",  # 28 s
    "tests/statemachines/test_state_limits.py",  # 24 s
    "tests/e2e/test_permission_matrix.py",  # 24 s
    "tests/unit/promotion/test_promotion_steps.py",  # 23 s
    "tests/unit/steps/test_register_version.py",  # 22 s
    "tests/e2e/test_local_server_api.py",  # 21 s
    "tests/unit/test_zip_function_imports.py",  # 16 s
    "tests/statemachines/test_drift.py",  # 15 s
    "tests/functional/test_port_contracts.py",  # 13 s
    "tests/unit/drift/test_retraining.py",  # 12 s
    "tests/reliability/test_lambda_limits.py",  # 12 s
    "tests/unit/serving/test_infer_handler.py",  # 10 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slowest files first: under xdist (addopts: -n 2 --dist loadfile --no-loadscope-reorder) each file
    goes whole to one worker, in this order, so a long file started last cannot leave the other worker idle while
    it runs. Tests keep their order within a file."""
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


PERMISSION_MATRIX = "tests.e2e.test_permission_matrix"
# The permission matrix's report as the xdist workers sent it (pytest_testnodedown): under xdist the matrix runs in a
# worker process, whose module the controller, which prints the summary, never imports.
_WORKER_REPORTS: list[dict[str, str]] = []


def _matrix_report() -> list[dict[str, str]]:
    """The cells this process ran (the module's REPORT: without xdist, or in a worker)."""
    import sys

    return list(getattr(sys.modules.get(PERMISSION_MATRIX), "REPORT", None) or [])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: hand the matrix's report to the controller with the worker's output."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["permission_matrix"] = json.dumps(_matrix_report())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the xdist controller: keep the report a finished worker sent."""
    _WORKER_REPORTS.extend(json.loads(getattr(node, "workeroutput", {}).get("permission_matrix", "[]")))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The permission matrix's report: which cells moto's own evaluator decides alike, and which only the
    local cloud's evaluation of the deployed policy documents decides (each named, with why)."""
    report = _matrix_report() + _WORKER_REPORTS
    if not report:
        return
    by_moto = [r for r in report if r["decider"] == "moto"]
    by_documents = [r for r in report if r["decider"] != "moto"]
    write = terminalreporter.write_line
    terminalreporter.section("permission matrix")
    write(
        f"{len(report)} cells ({sum(r['outcome'] == 'allow' for r in report)} allowed, "
        f"{sum(r['outcome'] == 'deny' for r in report)} refused): {len(by_moto)} decided alike by moto's own "
        f"evaluator, {len(by_documents)} decided only by evaluating the deployed policy documents"
    )
    for r in by_moto:
        write(f"  moto             {r['cell']:<48} {r['outcome']}")
    for r in by_documents:
        write(f"  policy documents {r['cell']:<48} {r['outcome']}  ({r['why']})")
