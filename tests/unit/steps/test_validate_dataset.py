"""validate_dataset: a good upload becomes a curated, content-addressed dataset version with a profile and
lineage; a bad one is quarantined untouched with a report naming every failed check."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slipway import layout
from slipway.domain.digest import sha256_hex
from slipway.domain.lineage import dataset_node, raw_node, spec_node
from slipway.domain.redaction import Redactor
from slipway.errors import DataContractViolation, SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec import load_spec
from slipway.steps.training.validate_dataset import validate_dataset
from slipway.stores.runs import get_run
from slipway.stores.specs import current_spec
from slipway_cli.samples import CORRUPTIONS, corrupt, make_churn, to_csv_bytes, to_parquet_bytes
from tests.fakes import fake_deps
from tests.unit.steps.support import (
    ROWS,
    churn_csv,
    item_of,
    spec_pushed,
    spec_text,
    store_keys,
    stored_versions,
    upload,
)


@pytest.fixture
def deps() -> Deps:
    """Fresh fakes with the (small) churn spec pushed."""
    return spec_pushed()


def test_a_good_csv_becomes_a_curated_dataset_version(deps: Deps) -> None:
    # GIVEN a well-formed churn CSV uploaded under churn/
    body = churn_csv()
    raw = upload(deps, "churn/customers.csv", body)

    # WHEN the validate step runs on it
    dataset = validate_dataset(deps, raw, "run-v1")

    # THEN the dataset version is recorded with its rows, its spec version and the exact raw object version
    _, spec_version = current_spec(deps, "churn")
    item = item_of(deps, layout.dataset_key("churn", dataset.dataset_version))
    assert dataset.new is True and dataset.trained_version is None
    assert (item["rows"], dataset.rows) == (ROWS, ROWS)
    assert item["spec_version"] == dataset.spec_version == spec_version
    assert (item["raw_uri"], item["raw_version_id"]) == (raw.uri, raw.version_id)
    assert item["columns"] == dataset.columns

    # AND the curated Parquet is stored where layout says, and its SHA-256 is the dataset version
    curated = layout.curated_data(deps.settings.lake_bucket, "churn", dataset.dataset_version)
    assert dataset.curated_uri == item["curated_uri"] == curated.uri
    curated_bytes = deps.store.get_bytes(curated)
    assert sha256_hex(curated_bytes) == dataset.dataset_version
    table = pq.read_table(io.BytesIO(curated_bytes))
    assert table.num_rows == ROWS
    # AND the e-mail column (pii: hash) holds no address from the upload
    uploaded_emails = set(make_churn(n_rows=ROWS, seed=7)["email"])
    assert uploaded_emails.isdisjoint(table.column("email").to_pylist())

    # AND its profile (the drift reference) covers the contract's columns
    profile = deps.store.get_json(layout.curated_profile(deps.settings.lake_bucket, "churn", dataset.dataset_version))
    assert dataset.profile_uri == item["profile_uri"]
    assert {"age", "plan", "churned"} <= set(profile)

    # AND lineage links the raw object version and the spec version into the dataset version
    node = dataset_node("churn", dataset.dataset_version)
    fed_by = {(e["kind"], e["other"]) for e in deps.table.query(*layout.edges(node, "in"))}
    assert fed_by == {
        ("curated_into", raw_node(raw.uri, raw.version_id)),
        ("validated", spec_node("churn", spec_version)),
    }

    # AND the run is RUNNING with the dataset version it uses
    run = get_run(deps, "run-v1")
    assert run is not None
    assert (run["status"], run["model"], run["dataset_version"]) == ("RUNNING", "churn", dataset.dataset_version)


def test_the_same_bytes_under_another_key_are_the_same_version(deps: Deps) -> None:
    # GIVEN a CSV already validated as a dataset version
    body = churn_csv()
    first_raw = upload(deps, "churn/monday.csv", body)
    first = validate_dataset(deps, first_raw, "run-a")
    before = stored_versions(deps)

    # WHEN the same bytes are uploaded under another key and validated
    again_raw = upload(deps, "churn/tuesday.csv", body)
    again = validate_dataset(deps, again_raw, "run-b")

    # THEN it is the same dataset version, not new, still one dataset item and one curated object version
    assert again.dataset_version == first.dataset_version
    assert (first.new, again.new) == (True, False)
    assert len(deps.table.query(*layout.datasets("churn"))) == 1
    curated = layout.curated_data(deps.settings.lake_bucket, "churn", first.dataset_version)
    assert stored_versions(deps)[(curated.bucket, curated.key)] == 1
    # AND nothing but the new upload was stored
    assert set(stored_versions(deps)) - set(before) == {(again_raw.bucket, again_raw.key)}
    # AND both uploads are lineage parents of the one dataset version
    parents = deps.table.query(*layout.edges(dataset_node("churn", first.dataset_version), "in"))
    assert {e["other"] for e in parents if e["kind"] == "curated_into"} == {
        raw_node(r.uri, r.version_id) for r in (first_raw, again_raw)
    }


def test_parquet_and_csv_of_the_same_table_are_the_same_version(deps: Deps) -> None:
    # GIVEN the same churn table exported as CSV and as Parquet
    frame = make_churn(n_rows=ROWS, seed=7)

    # WHEN both uploads are validated
    from_csv = validate_dataset(deps, upload(deps, "churn/export.csv", to_csv_bytes(frame)), "run-csv")
    from_parquet = validate_dataset(deps, upload(deps, "churn/export.parquet", to_parquet_bytes(frame)), "run-pq")

    # THEN they curate to one dataset version (the second is not new)
    assert from_parquet.dataset_version == from_csv.dataset_version
    assert from_parquet.schema_fingerprint == from_csv.schema_fingerprint
    assert from_parquet.new is False


def test_a_contract_violation_is_quarantined_with_a_report_of_every_failed_check(deps: Deps) -> None:
    # GIVEN an upload that breaks the contract in six known ways
    body = to_csv_bytes(corrupt(make_churn(n_rows=ROWS, seed=7)))
    raw = upload(deps, "churn/bad.csv", body)

    # WHEN the validate step runs on it
    with pytest.raises(DataContractViolation) as raised:
        validate_dataset(deps, raw, "run-bad")

    # THEN the error names each failed check
    lake = deps.settings.lake_bucket
    failed = {(f["column"], f["check"]) for f in raised.value.details["failures"]}
    assert failed == set(CORRUPTIONS)
    # AND a byte-identical copy of the upload is quarantined under the model and run
    copy = layout.quarantine_copy(lake, "churn", "run-bad", "bad.csv")
    assert raised.value.details["quarantined_copy"] == copy.uri
    assert deps.store.get_bytes(copy) == body
    # AND the quarantine report names every failed check with its count
    report_obj = layout.quarantine_report(lake, "churn", "run-bad")
    assert raised.value.details["report_uri"] == report_obj.uri
    report = deps.store.get_json(report_obj)
    assert report["ok"] is False and report["raw_uri"] == raw.uri
    assert {(f["column"], f["check"]): f["count"] for f in report["failures"]} == CORRUPTIONS
    # AND the raw upload is untouched, and no dataset version or curated object exists
    assert deps.store.versions(raw) == [raw.version_id]
    assert deps.store.get_bytes(raw) == body
    assert deps.table.query(*layout.datasets("churn")) == []
    assert store_keys(deps, lake) == sorted([copy.key, report_obj.key])  # only the quarantine


def test_an_upload_outside_a_model_folder_is_quarantined_as_unknown(deps: Deps) -> None:
    # GIVEN a good CSV uploaded at the top of the raw bucket, not under <model>/
    body = churn_csv()
    raw = upload(deps, "customers.csv", body)

    # WHEN the validate step runs on it
    with pytest.raises(DataContractViolation, match="'_unknown'"):
        validate_dataset(deps, raw, "run-stray")

    # THEN its copy and report are quarantined under _unknown, the report naming the layout check
    lake = deps.settings.lake_bucket
    assert deps.store.get_bytes(layout.quarantine_copy(lake, "_unknown", "run-stray", "customers.csv")) == body
    report = deps.store.get_json(layout.quarantine_report(lake, "_unknown", "run-stray"))
    assert [(f["check"], f["message"]) for f in report["failures"]] == [
        ("layout", "uploads must be laid out as <model>/<file>")
    ]
    run = get_run(deps, "run-stray")
    assert run is not None and run["model"] == "_unknown"


def test_a_model_without_a_pushed_spec_is_quarantined_with_what_to_push() -> None:
    # GIVEN an environment with no spec for "churn" and an upload under churn/
    deps = fake_deps()
    raw = upload(deps, "churn/customers.csv", churn_csv())

    # WHEN the validate step runs on it
    # THEN it raises a SpecError naming the model, and writes no dataset version
    with pytest.raises(SpecError, match="no model spec pushed for model 'churn'") as raised:
        validate_dataset(deps, raw, "run-nospec")
    assert deps.table.query(*layout.datasets("churn")) == []
    # AND the upload is quarantined untouched, with a report saying which spec to push and how
    lake = deps.settings.lake_bucket
    copy = layout.quarantine_copy(lake, "churn", "run-nospec", "customers.csv")
    report_obj = layout.quarantine_report(lake, "churn", "run-nospec")
    assert raised.value.details["report_uri"] == report_obj.uri
    assert deps.store.get_bytes(copy) == churn_csv()
    report = deps.store.get_json(report_obj)
    ((check, message),) = [(f["check"], f["message"]) for f in report["failures"]]
    assert check == "spec"
    assert "name is 'churn'" in message and "slipway spec push" in message and "--env dev" in message
    assert store_keys(deps, lake) == sorted([copy.key, report_obj.key])
    assert deps.store.versions(raw) == [raw.version_id]


# ---------------------------------------------------------------- trainability and missing targets


def _quarantined_checks(deps: Deps, frame: pd.DataFrame, run_id: str) -> dict[tuple[str | None, str], dict[str, Any]]:
    raw = upload(deps, f"churn/{run_id}.csv", to_csv_bytes(frame))
    with pytest.raises(DataContractViolation):
        validate_dataset(deps, raw, run_id)
    report = deps.store.get_json(layout.quarantine_report(deps.settings.lake_bucket, "churn", run_id))
    assert deps.table.query(*layout.datasets("churn")) == []
    assert deps.store.versions(raw) == [raw.version_id]
    return {(f["column"], f["check"]): f for f in report["failures"]}


def test_a_target_with_one_class_is_quarantined_before_any_training(deps: Deps) -> None:
    # GIVEN a churn file in which nobody churned
    frame = make_churn(n_rows=ROWS, seed=7).assign(churned=0)

    # WHEN it is validated
    checks = _quarantined_checks(deps, frame, "run-one-class")

    # THEN the only finding is the target's single class, and nothing was curated
    assert list(checks) == [("churned", "target_classes")]
    assert "1 class (every row is 0)" in checks[("churned", "target_classes")]["message"]
    assert store_keys(deps, deps.settings.lake_bucket, "curated/") == []


def test_a_class_too_rare_for_the_split_is_quarantined(deps: Deps) -> None:
    # GIVEN a churn file with two churners among 600 rows (train, valid and test need one each)
    frame = make_churn(n_rows=ROWS, seed=7).assign(churned=0)
    frame.loc[[10, 20], "churned"] = 1

    checks = _quarantined_checks(deps, frame, "run-rare")

    finding = checks[("churned", "class_rows")]
    assert (finding["count"], finding["examples"]) == (2, [10, 20])
    assert "1 (2)" in finding["message"]


def test_rows_without_a_target_are_quarantined_by_default(deps: Deps) -> None:
    frame = make_churn(n_rows=ROWS, seed=7)
    frame["churned"] = frame["churned"].astype("float64")
    frame.loc[[3, 30, 300], "churned"] = float("nan")

    checks = _quarantined_checks(deps, frame, "run-null-target")

    assert checks[("churned", "not_null")]["count"] == 3
    assert checks[("churned", "not_null")]["examples"] == [3, 30, 300]


def test_rows_without_a_target_are_dropped_and_counted_when_the_spec_says_so() -> None:
    # GIVEN a spec that drops rows without a target, and an upload with three of them (one also has a bad age)
    deps = spec_pushed(replace={"  target: churned\n": "  target: churned\n  missing_target: drop\n"})
    frame = make_churn(n_rows=ROWS, seed=7)
    frame["churned"] = frame["churned"].astype("float64")
    frame.loc[[3, 30, 300], "churned"] = float("nan")
    frame["age"] = frame["age"].astype(object)
    frame.loc[30, "age"] = "thirty"  # on a dropped row: no finding
    raw = upload(deps, "churn/partly-labelled.csv", to_csv_bytes(frame))

    # WHEN it is validated
    dataset = validate_dataset(deps, raw, "run-drop")

    # THEN the dataset version holds the other rows, and the step and the run report the three dropped
    assert (dataset.rows, dataset.dropped_null_target) == (ROWS - 3, 3)
    curated = pq.read_table(io.BytesIO(deps.store.get_bytes(S3Object.parse(dataset.curated_uri))))
    assert curated.num_rows == ROWS - 3 and curated.column("churned").null_count == 0
    run = get_run(deps, "run-drop")
    assert run is not None and run["dropped_null_target"] == 3


def test_findings_after_dropping_rows_name_rows_of_the_upload() -> None:
    deps = spec_pushed(replace={"  target: churned\n": "  target: churned\n  missing_target: drop\n"})
    frame = make_churn(n_rows=ROWS, seed=7)
    frame["churned"] = frame["churned"].astype("float64")
    frame.loc[[0, 1, 2], "churned"] = float("nan")
    frame.loc[[50], "age"] = 150  # above max 90: row 50 of the upload (47 of the rows kept)

    checks = _quarantined_checks(deps, frame, "run-drop-bad")

    assert checks[("age", "max")]["examples"] == [50]


# ---------------------------------------------------------------- typed files, PII in reports


def _parquet(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


def test_a_parquet_column_stored_as_another_type_is_a_type_finding(deps: Deps) -> None:
    # GIVEN a Parquet file whose age and tenure columns are stored as text ("42"), not integers
    frame = make_churn(n_rows=ROWS, seed=7)
    frame["age"] = frame["age"].astype(str)
    frame["tenure_months"] = frame["tenure_months"].astype(str)
    raw = upload(deps, "churn/typed.parquet", _parquet(frame))

    # WHEN it is validated
    with pytest.raises(DataContractViolation):
        validate_dataset(deps, raw, "run-typed")

    # THEN each is one type finding over every value, naming the stored and the expected type
    report = deps.store.get_json(layout.quarantine_report(deps.settings.lake_bucket, "churn", "run-typed"))
    findings = {(f["column"], f["check"]): f for f in report["failures"]}
    assert set(findings) == {("age", "type"), ("tenure_months", "type")}
    assert findings[("age", "type")]["count"] == ROWS
    assert "stored as string" in findings[("age", "type")]["message"]
    assert "the contract says int" in findings[("age", "type")]["message"]
    assert "coerce: true" in findings[("age", "type")]["message"]


def test_a_column_that_opts_into_coercion_converts_its_stored_text() -> None:
    # GIVEN a spec whose age column says coerce: true, and the same table as CSV and as Parquet with age as text
    deps = spec_pushed(
        replace={"    - name: age\n      type: int\n": "    - name: age\n      type: int\n      coerce: true\n"}
    )
    frame = make_churn(n_rows=ROWS, seed=7)
    from_csv = validate_dataset(deps, upload(deps, "churn/a.csv", to_csv_bytes(frame)), "run-csv")
    frame["age"] = frame["age"].astype(str)

    # WHEN the Parquet file is validated
    from_parquet = validate_dataset(deps, upload(deps, "churn/a.parquet", _parquet(frame)), "run-pq")

    # THEN it is accepted as the same dataset version as the CSV
    assert from_parquet.dataset_version == from_csv.dataset_version


def test_a_ragged_row_quoted_by_the_parser_does_not_reach_the_report(deps: Deps) -> None:
    # GIVEN a churn CSV with one row carrying an extra field (the e-mail column is pii: hash)
    lines = churn_csv().decode().splitlines()
    email = lines[7].split(",")[2]
    assert "@" in email
    lines[7] += ",surplus"
    raw = upload(deps, "churn/ragged.csv", ("\n".join(lines) + "\n").encode())

    # WHEN it is validated
    with pytest.raises(DataContractViolation) as raised:
        validate_dataset(deps, raw, "run-ragged")

    # THEN the report says what is wrong with the row, but not what the row holds
    report_text = deps.store.get_bytes(layout.quarantine_report(deps.settings.lake_bucket, "churn", "run-ragged"))
    assert b"Expected 18 columns, got 19" in report_text and b"withheld" in report_text
    assert email.encode() not in report_text and email not in str(raised.value)


def test_values_of_pii_columns_are_masked_wherever_a_report_quotes_them(deps: Deps) -> None:
    # GIVEN a churn CSV without its header row: the first customer's values stand where the names should be
    lines = churn_csv().decode().splitlines()
    first_email = lines[1].split(",")[2]
    raw = upload(deps, "churn/no-header.csv", ("\n".join(lines[1:]) + "\n").encode())

    with pytest.raises(DataContractViolation):
        validate_dataset(deps, raw, "run-no-header")

    report_text = deps.store.get_bytes(layout.quarantine_report(deps.settings.lake_bucket, "churn", "run-no-header"))
    report = json.loads(report_text)
    assert "header" in {f["check"] for f in report["failures"]}
    assert first_email.encode() not in report_text


def test_the_redactor_masks_pii_values_a_message_quotes() -> None:
    contract = load_spec(spec_text()).data
    table = pa.table({"email": ["ana.1@example.com", "ben.2@example.com"], "age": [30, 40]})
    redactor = Redactor.of(table, contract)
    text = "could not parse 'ana.1@example.com' in row 3; age 30 is fine"
    assert redactor.text(text) == "could not parse '<masked>' in row 3; age 30 is fine"
    assert redactor.json({"m": [text], "ben.2@example.com": 1}) == {
        "m": ["could not parse '<masked>' in row 3; age 30 is fine"],
        "<masked>": 1,
    }


def test_a_file_that_is_not_utf8_is_unreadable_not_a_crash(deps: Deps) -> None:
    body = churn_csv().decode().replace("north", "nörth").encode("latin-1")
    raw = upload(deps, "churn/latin1.csv", body)
    with pytest.raises(DataContractViolation):
        validate_dataset(deps, raw, "run-latin1")
    report = deps.store.get_json(layout.quarantine_report(deps.settings.lake_bucket, "churn", "run-latin1"))
    assert [f["check"] for f in report["failures"]] == ["readable"]
    assert "UTF-8" in report["failures"][0]["message"]


def test_a_retried_quarantine_writes_nothing_again(deps: Deps) -> None:
    raw = upload(deps, "churn/bad-twice.csv", to_csv_bytes(corrupt(make_churn(n_rows=ROWS, seed=7))))
    with pytest.raises(DataContractViolation):
        validate_dataset(deps, raw, "run-bad-twice")
    before = stored_versions(deps)
    with pytest.raises(DataContractViolation) as again:
        validate_dataset(deps, raw, "run-bad-twice")
    assert stored_versions(deps) == before
    assert again.value.details["report_uri"].endswith("run-bad-twice/report.json")
