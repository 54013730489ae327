"""`slipway experiments` on the fakes, as an operator reads it: the list, the show with the verdict and the test
named, JSON holding only the fields docs/cli.md names, and an HTML report that is one self-contained file with
every value escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from slipway.ports import Deps
from slipway.stores.registry import ModelRegistry
from slipway_cli import main as cli
from tests.fakes import fork
from tests.unit.experiments.conftest import serve_with_feedback

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTED = set(re.findall(r"`([^`\n]+)`", (ROOT / "docs" / "cli.md").read_text()))


def slipway(deps: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run the CLI against ``deps``; returns (exit code, stdout)."""
    monkeypatch.setattr(cli, "_target", lambda args: SimpleNamespace(deps=deps, env="dev"))
    monkeypatch.setattr(cli.console, "width", 140)
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def _keys(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    return set(value).union(*(_keys(v) for v in value.values()))


@pytest.fixture(scope="module")
def running(registered: Deps) -> Deps:
    """v2 challenging v1 on 30 % of customers (a reason with markup in it), 2,000 customers served with feedback."""
    deps = fork(registered)
    reason = "<script>alert(1)</script> try v2"
    ModelRegistry.of(deps).set_alias("churn", "challenger", 2, actor="ana", reason=reason, weight=0.3)
    serve_with_feedback(deps, 2_000, {1: 0.75, 2: 0.75}, seed=6)
    return deps


def test_list_and_show_print_the_experiment_its_test_and_verdict(
    running: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an A/A-like experiment (both versions right 75 % of the time) WHEN listed and shown
    code, listed = slipway(running, monkeypatch, capsys, "experiments", "list", "churn")
    assert code == 0 and "running" in listed and "70% / 30%" in listed
    code, shown = slipway(running, monkeypatch, capsys, "experiments", "show", "churn")
    # THEN the show names the variants, the test, the sample-ratio check and the verdict
    assert code == 0
    for said in ("production", "challenger", "two-proportion z-test", "sample ratio", "verdict: keep running"):
        assert said in shown, said
    # AND an unknown experiment is one line, exit 2
    code, out = slipway(running, monkeypatch, capsys, "experiments", "show", "churn", "--number", "7")
    assert code == 2 and "no experiment 7" in out


def test_json_holds_only_documented_fields(
    running: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["experiments", "list", "churn"], ["experiments", "show", "churn"]):
        code, out = slipway(running, monkeypatch, capsys, *command, "--json")
        value = json.loads(out)
        assert code == 0 and _keys(value) <= DOCUMENTED, (command, _keys(value) - DOCUMENTED)
    assert value["analysis"]["verdict"] == "keep running"
    assert value["analysis"]["comparison"]["test"] == "two-proportion z-test"
    assert value["experiment"]["salt"] == "churn:2:0.3"


def test_the_html_report_is_one_self_contained_file_with_values_escaped(
    running: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # WHEN the report is written
    page_path = tmp_path / "reports" / "churn.html"
    code, out = slipway(running, monkeypatch, capsys, "experiments", "show", "churn", "--html", str(page_path))
    page = page_path.read_text()
    # THEN it holds the verdict, the variants and the test, draws the intervals, and fetches nothing
    assert code == 0 and "report:" in out
    for said in ("keep running", "production", "challenger", "two-proportion z-test", "Sample ratio", "<svg"):
        assert said in page, said
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page) and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; try v2" in page  # the alias move's reason, escaped
