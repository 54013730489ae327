"""The hostile-upload corpus in the local cloud, uploaded as a user would (multipart above the
threshold): each hostile file ends in a typed failure with a quarantine report naming its finding and
quoting no PII, its raw object unchanged (one version), its run closed FAILED and the registry and the
model's datasets untouched; each tolerable one runs cleanly to the plain CSV's dataset version."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.config import Config

from slipway import layout
from slipway.domain.run_names import run_name_for_object
from slipway.objects import S3Object
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.samples import to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import MULTIPART, ONE_FOREST, spec_variant
from tests.reliability import corpus

HOSTILE = corpus.hostile()
TOLERABLE = corpus.tolerable()


@dataclass(frozen=True)
class Ran:
    case: corpus.Case
    version_id: str
    run_id: str
    execution: dict[str, Any]

    @property
    def output(self) -> dict[str, Any]:
        return json.loads(self.execution.get("output") or "{}")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Corpus:
    plain: Ran  # the plain CSV, registered first
    runs: dict[str, Ran]
    versions_before: list[dict[str, Any]]  # the registry once the plain CSV was registered
    aliases_before: dict[str, int]
    datasets_before: list[str]


def _read(cloud: LocalCloud, obj: S3Object) -> bytes:
    """An object's bytes. moto keeps a multipart upload's composite CRC on a copy without its "-<parts>"
    mark, so botocore would check it as a whole-object CRC and fail: the copy is compared as read."""
    s3 = cloud.client("s3", "dev", config=Config(response_checksum_validation="when_required"))
    return s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()  # type: ignore[no-any-return]


def _upload(cloud: LocalCloud, dev: Target, case: corpus.Case) -> Ran:
    s3 = cloud.client("s3", "dev")
    raw = dev.outputs["RawBucketName"]
    if case.multipart:
        s3.upload_fileobj(io.BytesIO(case.body), raw, case.key, Config=MULTIPART)
        version_id = s3.head_object(Bucket=raw, Key=case.key)["VersionId"]
    else:
        version_id = s3.put_object(Bucket=raw, Key=case.key, Body=case.body)["VersionId"]
    return Ran(case, version_id, run_name_for_object(raw, case.key, version_id), {})


def _finished(cloud: LocalCloud, ran: Ran) -> Ran:
    (execution,) = [e for e in cloud.executions("dev") if e["name"] == ran.run_id]
    return Ran(ran.case, ran.version_id, ran.run_id, cloud.wait_for_execution("dev", execution["executionArn"]))


@pytest.fixture(scope="module")
def uploaded(cloud: LocalCloud, dev: Target) -> Corpus:
    """The plain CSV registered, then every other case uploaded at once and every run finished."""
    push_spec(dev.deps, spec_variant(corpus.MODEL, **ONE_FOREST))
    push_spec(dev.deps, spec_variant(corpus.TINY, **ONE_FOREST, **{"min_rows: 1000": "min_rows: 1"}))
    plain_case = corpus.Case("plain CSV", f"{corpus.MODEL}/plain.csv", to_csv_bytes(corpus.base()), "registered")
    plain = _upload(cloud, dev, plain_case)
    cloud.runtime.wait_async_idle()
    plain = _finished(cloud, plain)
    assert plain.execution["status"] == "SUCCEEDED", plain.execution.get("cause")
    registry = ModelRegistry.of(dev.deps)
    before = (
        registry.versions(corpus.MODEL),
        registry.aliases(corpus.MODEL),
        [d["version"] for d in dev.deps.table.query(*layout.datasets(corpus.MODEL))],
    )
    with ThreadPoolExecutor(4) as pool:
        started = list(pool.map(lambda c: _upload(cloud, dev, c), [*HOSTILE, *TOLERABLE]))
    cloud.wait_idle()
    runs = {r.case.name: _finished(cloud, r) for r in started}
    return Corpus(plain, runs, *before)


def test_the_corpus_is_at_least_thirty_hostile_cases() -> None:
    assert len(HOSTILE) >= 30
    assert len({c.name for c in HOSTILE + TOLERABLE}) == len(HOSTILE) + len(TOLERABLE)


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_a_hostile_upload_fails_typed_quarantined_and_changes_nothing(
    case: corpus.Case, uploaded: Corpus, cloud: LocalCloud, dev: Target
) -> None:
    ran = uploaded.runs[case.name]
    lake, raw_bucket = dev.outputs["LakeBucketName"], dev.outputs["RawBucketName"]

    # THEN the run failed with the case's typed error
    assert ran.execution["status"] == "FAILED", ran.output
    assert ran.execution["error"] == case.error

    # AND a quarantine report names the expected findings, next to an exact copy of the upload
    report_obj = layout.quarantine_report(lake, case.quarantine_model, ran.run_id)
    report_text = dev.deps.store.get_bytes(report_obj)
    report = json.loads(report_text)
    assert case.checks <= {f["check"] for f in report["failures"]}, report["failures"]
    copy = layout.quarantine_copy(lake, case.quarantine_model, ran.run_id, case.file_name)
    assert _read(cloud, copy) == case.body
    assert (report["raw_uri"], report["raw_version_id"]) == (f"s3://{raw_bucket}/{case.key}", ran.version_id)

    # AND neither the report nor the error quotes anyone's e-mail address (a pii: hash column)
    text = report_text.decode("utf-8", "replace") + ran.execution.get("cause", "")
    assert not [e for e in corpus.emails() if e in text]

    # AND the raw object is unchanged: one version, the uploaded bytes
    assert dev.deps.store.versions(S3Object(bucket=raw_bucket, key=case.key)) == [ran.version_id]
    assert dev.deps.store.get_bytes(S3Object(bucket=raw_bucket, key=case.key, version_id=ran.version_id)) == case.body

    # AND the run is closed with the typed error, and the model's registry and datasets are untouched
    run = dev.deps.table.get(*layout.run_key(ran.run_id))
    assert run is not None and (run["status"], run["error_type"]) == ("FAILED", case.error)
    registry = ModelRegistry.of(dev.deps)
    assert registry.versions(corpus.MODEL) == uploaded.versions_before
    assert registry.aliases(corpus.MODEL) == uploaded.aliases_before
    assert [d["version"] for d in dev.deps.table.query(*layout.datasets(corpus.MODEL))] == uploaded.datasets_before
    assert registry.versions(corpus.TINY) == []


@pytest.mark.parametrize("case", TOLERABLE, ids=lambda c: c.name)
def test_a_tolerable_upload_runs_cleanly_to_the_same_dataset_version(
    case: corpus.Case, uploaded: Corpus, dev: Target
) -> None:
    ran = uploaded.runs[case.name]

    # THEN the run succeeded, read the file into the plain CSV's dataset version, and had nothing to train
    assert ran.execution["status"] == "SUCCEEDED", ran.execution.get("cause")
    dataset = ran.output["dataset"]
    assert dataset["dataset_version"] == uploaded.plain.output["dataset"]["dataset_version"]
    assert dataset["trained_version"] == uploaded.plain.output["model"]["version"]
    run = dev.deps.table.get(*layout.run_key(ran.run_id))
    assert run is not None and (run["status"], run["outcome"]) == ("SUCCEEDED", "nothing_to_train")


def test_each_upload_ran_exactly_once(uploaded: Corpus, cloud: LocalCloud) -> None:
    # the multipart case raised two events; every case has one execution, named for its object version
    names = [e["name"] for e in cloud.executions("dev")]
    for ran in uploaded.runs.values():
        assert names.count(ran.run_id) == 1, ran.case.name
