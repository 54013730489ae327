"""Run names from an object's identity: one name per object version, valid for Step Functions
whatever the key holds."""

from __future__ import annotations

import re

import pytest

from slipway.domain.run_names import MAX_RUN_NAME, run_name_for_object

# What Step Functions accepts in an execution name (we keep to a plainer subset).
VALID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def test_every_event_about_one_object_version_names_the_same_run() -> None:
    first = run_name_for_object("raw", "churn/2026-11-25.csv", "v1", etag="abc")
    again = run_name_for_object("raw", "churn/2026-11-25.csv", "v1", etag="other-etag-same-version")
    assert first == again
    assert first.startswith("churn-2026-11-25-")


@pytest.mark.parametrize(
    ("other_bucket", "other_key", "other_version"),
    [
        ("raw", "churn/2026-11-25.csv", "v2"),  # the same key uploaded again
        ("raw", "churn/2026-11-26.csv", "v1"),
        ("raw-staging", "churn/2026-11-25.csv", "v1"),
    ],
)
def test_another_version_key_or_bucket_is_another_run(other_bucket: str, other_key: str, other_version: str) -> None:
    assert run_name_for_object("raw", "churn/2026-11-25.csv", "v1") != run_name_for_object(
        other_bucket, other_key, other_version
    )


def test_without_a_version_id_the_etag_tells_rewrites_apart() -> None:
    assert run_name_for_object("raw", "churn/a.csv", None, etag="e1") != run_name_for_object(
        "raw", "churn/a.csv", None, etag="e2"
    )


@pytest.mark.parametrize(
    "key",
    [
        "churn/my file (final) v2.CSV",
        "churn/ünïcødé:data#1?.csv",
        "churn/" + "x" * 500 + ".csv",
        "churn/2026/11/25/part-0000.csv.gz",
        "churn/.csv",
        "report.csv",
        "@@@/$$$",
    ],
)
def test_names_are_valid_execution_names_for_any_key(key: str) -> None:
    name = run_name_for_object("raw", key, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    assert VALID.match(name), name
    assert len(name) <= MAX_RUN_NAME
