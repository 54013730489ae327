"""The CLI refuses a bad spec before touching AWS, naming each field at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway_local.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_spec_push_names_the_fields_of_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the churn spec with a typo'd column type and an impossible gate
    text = (ROOT / "specs" / "churn.yaml").read_text()
    text = text.replace("type: int\n      min: 18", "type: integer\n      min: 18", 1)
    bad = tmp_path / "churn.yaml"
    bad.write_text(text)

    # WHEN it is pushed (no AWS credentials or stack are needed to refuse it)
    code = main(["spec", "push", str(bad), "--env", "dev", "--profile", "no-such-profile"])

    # THEN the command fails with the field named
    out = capsys.readouterr().out
    assert code == 2
    assert "SpecError" in out
    assert "data.columns.3.type" in out
