"""`slipway score`: the execution is named from its inputs and the time (readable, within Step Functions'
rules), and a malformed input is refused before any AWS call."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from slipway_cli.main import main
from slipway_cli.scoring import execution_name

AT = datetime(2026, 11, 25, 9, 30, 5, tzinfo=UTC)


def test_the_run_is_named_from_the_model_reference_the_input_and_the_time() -> None:
    name = execution_name("churn@production", "s3://lake/scoring/churn/2026-11-25/", AT)

    assert name.startswith("score-churn-production-20261125T093005Z-")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert name == execution_name("churn@production", "s3://lake/scoring/churn/2026-11-25/", AT)
    assert name != execution_name("churn@production", "s3://lake/scoring/churn/2026-11-26/", AT)
    assert execution_name("churn", "s3://lake/x/", AT).startswith("score-churn-latest-")
    assert execution_name("churn@3", "s3://lake/x/", AT).startswith("score-churn-3-")


def test_any_model_name_makes_a_valid_execution_name() -> None:
    name = execution_name("a model.with/odd:chars" * 5 + "@prod", "s3://lake/x/", AT)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name), name


@pytest.mark.parametrize("uri", ["lake/scoring/", "s3:///scoring/", "https://lake/scoring/"])
def test_a_malformed_input_is_refused_before_any_aws_call(uri: str) -> None:
    with pytest.raises(SystemExit, match="s3://bucket/prefix/"):
        main(["score", "churn@production", uri, "--profile", "no-such-profile"])
