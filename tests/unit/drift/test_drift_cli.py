"""`slipway drift history` and `drift report` on the fakes: the checks newest first, the report saved where it
says, and JSON with only the fields docs/cli.md names."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from slipway.contracts.drift import DriftRequest
from slipway.ports import Deps
from slipway.steps.drift.compute_drift import compute_drift
from slipway_cli import main as cli
from tests.unit.drift.conftest import serve
from tests.unit.drift.test_drift_steps import shifted
from tests.unit.steps.test_cli_on_fakes import DOCUMENTED, _keys


def slipway(deps: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    monkeypatch.setattr(cli, "_target", lambda args: SimpleNamespace(deps=deps, env="dev"))
    monkeypatch.setattr(cli.console, "width", 120)
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_history_and_report(
    dev: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN two checks: calm traffic, then shifted traffic
    serve(dev, 200)
    compute_drift(dev, DriftRequest(model="churn", check_id="first"))
    serve(dev, 400, shift=shifted, prefix="later")
    compute_drift(dev, DriftRequest(model="churn", check_id="second"))

    # WHEN the history is asked THEN newest first, with documented fields only
    code, out = slipway(dev, monkeypatch, capsys, "drift", "history", "churn", "--json")
    checks = json.loads(out)
    assert code == 0 and [(c["check_id"], c["drifted"]) for c in checks] == [("second", True), ("first", False)]
    assert _keys(checks) <= DOCUMENTED, _keys(checks) - DOCUMENTED
    code, out = slipway(dev, monkeypatch, capsys, "drift", "history", "churn")
    assert code == 0 and "second" in out and "tenure_months" in out

    # WHEN the report is asked THEN the latest check's page is saved where the command says
    code, out = slipway(dev, monkeypatch, capsys, "drift", "report", "churn", "--out", str(tmp_path), "--json")
    saved = json.loads(out)
    assert code == 0 and saved["check_id"] == "second" and _keys(saved) <= DOCUMENTED
    page = Path(saved["path"]).read_text()
    assert page.startswith("<!DOCTYPE html>") and "Drift: churn v1" in page
    code, out = slipway(
        dev, monkeypatch, capsys, "drift", "report", "churn", "--check", "first", "--out", str(tmp_path)
    )
    assert code == 0 and "first" in out and (tmp_path / "churn-dev-first.html").exists()
