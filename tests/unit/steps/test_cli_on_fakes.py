"""The operator CLI on the fakes, as a user reads it: a unique prefix finds a run, `--json` holds only the
documented public fields, params print exactly as trained and whole-number metrics are shown, `champion`
names a version and `runs show` shows the comparison, `spec push` says which version is now current, a bad
spec's findings print once, and `reproduce` exits 0 with the tolerance it used."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from slipway.ports import Deps
from slipway.steps.training.register_version import register_version
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import start_run, update_run
from slipway.stores.specs import push_spec
from slipway_cli import main as cli
from tests.fakes import fake_deps, fork
from tests.unit.steps.support import Pipeline, churn_csv, register_request, run_pipeline, spec_text

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTED = set(re.findall(r"`([^`\n]+)`", (ROOT / "docs" / "cli.md").read_text()))


@pytest.fixture(scope="module")
def two_versions(evaluated: Pipeline) -> Deps:
    """churn v1 from run-1, then run-2 (other rows) compared with v1 as champion and registered as v2."""
    deps = fork(evaluated.deps)
    run = evaluated.run
    register_version(deps, register_request(run.run_id, run.dataset, run.features, run.evaluated))
    second = run_pipeline(deps, "run-2-later", "churn/more.csv", churn_csv(seed=8), until="register")
    assert second.evaluated.champion is not None and second.evaluated.champion["version"] == 1
    # a whole-number metric, as DynamoDB gives 1.0 back
    update_run(deps, "run-2-later", test_metrics={**second.evaluated.test_metrics, "recall": 1.0, "per_class": None})
    return deps


def slipway(deps: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run the CLI against ``deps``; returns (exit code, stdout)."""
    monkeypatch.setattr(cli, "_target", lambda args: SimpleNamespace(deps=deps))
    monkeypatch.setattr(cli.console, "width", 80)
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def _keys(value: Any) -> set[str]:
    """Every key of every object in a JSON value, except inside metric maps, whose keys are metric names."""
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    keys = set(value)
    for key, child in value.items():
        named = ("test_metrics", "validation_metrics", "params", "aliases", "artifacts", "onnx", "metrics")
        if key not in (*named, "mean_abs_contribution", "mean", "sd"):
            # maps whose keys are metric, parameter, alias, artifact or feature names, not fields
            keys |= _keys(child)
    return keys


def test_a_unique_prefix_shows_a_run_and_json_has_only_documented_public_fields(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two runs WHEN one is shown by a prefix of its id, as JSON
    code, out = slipway(two_versions, monkeypatch, capsys, "runs", "show", "run-2", "--json")
    shown = json.loads(out)
    # THEN it is that run, with no table keys and only fields docs/cli.md names
    assert code == 0 and shown["run"]["run_id"] == "run-2-later"
    assert not {"PK", "SK", "GSI1PK", "GSI1SK", "params_json"} & _keys(shown)
    assert _keys(shown) <= DOCUMENTED, _keys(shown) - DOCUMENTED
    # AND the champion it was compared with, and the comparison, are shown
    assert shown["champion"]["version"] == 1
    assert {r["metric"] for r in shown["champion"]["comparison"]} >= {"roc_auc", "accuracy"}
    # AND the listings' JSON is public and documented too
    for command in (["runs"], ["models", "list"], ["models", "show", "churn@champion"]):
        code, out = slipway(two_versions, monkeypatch, capsys, *command, "--json")
        assert code == 0 and _keys(json.loads(out)) <= DOCUMENTED, (command, _keys(json.loads(out)) - DOCUMENTED)


def test_an_ambiguous_or_unknown_run_prefix_is_one_error(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN runs run-1 and run-2-later WHEN "run-" is asked for THEN both are named, once, and the exit is 2
    code, out = slipway(two_versions, monkeypatch, capsys, "runs", "show", "run-")
    assert code == 2 and "ambiguous" in out and "run-1" in out and out.count("\n") == 1
    code, out = slipway(two_versions, monkeypatch, capsys, "runs", "show", "nope")
    assert code == 2 and "no run 'nope'" in out


def test_the_table_view_shows_exact_params_whole_number_metrics_and_the_comparison(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN run-2's candidates (C: 0.1 and 1.0) and its recall recorded as a whole 1
    code, out = slipway(two_versions, monkeypatch, capsys, "runs", "show", "run-2")
    # THEN params read as trained, the whole-number metric is shown, and the champion comparison too
    assert code == 0
    assert '{"C": 1.0}' in out and "{'C': 1}" not in out
    assert "recall=1" in out
    assert "challenger vs champion v1" in out


def test_long_run_ids_show_as_unique_prefixes_that_runs_show_takes(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two runs whose ids (as S3 events name executions) share their first 8 characters
    deps = fork(two_versions)
    long_ids = ["evt-00b3a4c1-9f1e-4b7a-8c2d-1234567890ab", "evt-00b3ffff-0000-4b7a-8c2d-1234567890ab"]
    for run_id in long_ids:
        start_run(deps, run_id, model="churn")
    # WHEN runs are listed in 80 columns
    code, out = slipway(deps, monkeypatch, capsys, "runs")
    # THEN each id shows whole up to a unique prefix, never cut by an ellipsis
    shown = re.findall(r"^[│|] (evt-\S+)", out, re.MULTILINE)
    assert code == 0 and shown == ["evt-00b3ffff", "evt-00b3a4c1"]
    # AND that prefix shows the run
    code, out = slipway(deps, monkeypatch, capsys, "runs", "show", shown[1], "--json")
    assert code == 0 and json.loads(out)["run"]["run_id"] == long_ids[0]


def test_champion_is_a_read_only_name_for_a_version(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN v2 as the candidate and nothing in production WHEN churn@champion is shown
    code, out = slipway(two_versions, monkeypatch, capsys, "models", "show", "churn@champion", "--json")
    # THEN it is v2, named champion among its aliases, with params exactly as trained
    shown = json.loads(out)
    assert code == 0 and shown["version"] == 2 and shown["aliases"] == {"candidate": 2, "champion": 2}
    assert all(isinstance(v, float) for v in shown["params"].values() if not isinstance(v, bool))
    # AND it cannot be set as an alias
    from slipway.stores.registry import ModelRegistry

    with pytest.raises(ValueError, match="read-only"):
        ModelRegistry.of(two_versions).set_alias("churn", "champion", 1, actor="me", reason="try")


def test_spec_push_says_which_version_is_now_current(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN the churn spec current, and an edited one
    deps = fork(two_versions)
    first, edited = tmp_path / "churn.yaml", tmp_path / "churn-2.yaml"
    first.write_text(spec_text())
    edited.write_text(spec_text(replace={"min_rows: 100": "min_rows: 200"}))
    # (the push is the operate route's act, here on the fakes instead of through the HTTP API)
    from slipway.operations import acts
    from slipway_cli import serving

    monkeypatch.setattr(
        serving, "push_spec", lambda _, text, reason: acts.push(deps, text, reason, "arn:aws:iam::1:user/me")
    )
    # WHEN the edited spec is pushed, then the first one again
    _, pushed = slipway(deps, monkeypatch, capsys, "spec", "push", str(edited), "--json")
    code, out = slipway(deps, monkeypatch, capsys, "spec", "push", str(first))
    # THEN the second push says the earlier version is current again, naming the one it replaced
    new = json.loads(pushed)
    assert new["new"] is True and new["current"] == new["version"]
    assert code == 0 and f"is now current (pushed before; was {new['version'][:12]})" in " ".join(out.split())
    # AND it lists how missing values are filled, defaults included
    assert "missing values: numeric median" in " ".join(out.split())


def test_a_bad_spec_prints_each_finding_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN a spec with a nullable target and an unknown metric
    bad = tmp_path / "bad.yaml"
    text = (
        spec_text()
        .replace("metric: roc_auc", "metric: auc")
        .replace(
            "    - name: churned\n      type: int\n", "    - name: churned\n      type: int\n      nullable: true\n"
        )
    )
    bad.write_text(text)
    # WHEN it is checked
    code, out = slipway(None, monkeypatch, capsys, "spec", "check", str(bad))  # type: ignore[arg-type]
    # THEN each finding is printed once, under its field
    assert code == 2
    assert out.count("'auc' is not a classification metric") == 1
    assert out.count("target 'churned' is nullable") == 1
    assert "data.target" in out and "training.metric" in out


def test_reproduce_exits_0_and_prints_its_tolerance(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN churn v1 WHEN reproduced
    code, out = slipway(two_versions, monkeypatch, capsys, "reproduce", "churn@1", "--no-record")  # no API here
    # THEN it is identical, the tolerance for float summation order is stated, and the exit is 0
    assert code == 0
    assert "identical" in out and "1e-09" in out


def test_spec_check_says_which_fills_the_spec_chose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN a spec that names the numeric fill and leaves the others to slipway
    spec = tmp_path / "churn.yaml"
    spec.write_text(spec_text(replace={"features:\n": "features:\n  missing:\n    numeric: mean\n"}))
    # WHEN it is checked
    code, out = slipway(fake_deps(), monkeypatch, capsys, "spec", "check", str(spec))
    # THEN the numeric fill is the spec's, the categorical and timestamp ones the defaults
    said = " ".join(out.split())
    assert code == 0
    assert "numeric mean (spec) · categorical constant '(missing)' (default) · timestamp median (default)" in said


@pytest.mark.parametrize("command", [["runs"], ["models", "list"], ["models", "show", "churn@champion"]])
def test_tables_fit_an_80_column_terminal_without_cutting_values(
    two_versions: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # GIVEN two registered versions WHEN a listing is printed on an 80-column terminal
    code, out = slipway(two_versions, monkeypatch, capsys, *command)
    # THEN no line is wider than the terminal and no value is cut short with an ellipsis
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in re.sub(r"sha256 [0-9a-f]{16}…", "", " ".join(out.split()))  # a digest's prefix is meant


def test_runs_show_names_each_candidates_flags_and_the_warnings_it_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a run whose first logistic regression stopped after 3 solver iterations
    deps = fake_deps()
    push_spec(deps, spec_text(replace={"grid: {C: [0.1, 1.0]}": "grid: {C: [1.0], max_iter: [3, 1000]}"}))
    run_pipeline(deps, "run-flagged", "churn/customers.csv", churn_csv(), until="train")

    # WHEN it is shown
    code, out = slipway(deps, monkeypatch, capsys, "runs", "show", "run-flagged")

    # THEN the candidates' table flags it, and the warning it raised is listed under its index
    assert code == 0
    assert "not_converged" in out and "warnings raised while training" in out
    assert "lbfgs failed to converge" in " ".join(out.replace("│", " ").split())
    # AND the JSON carries both, as documented fields
    code, out = slipway(deps, monkeypatch, capsys, "runs", "show", "run-flagged", "--json")
    candidates = json.loads(out)["candidates"]
    assert [c["flags"] for c in candidates] == [["not_converged"], []]
    assert candidates[0]["warnings"][0].startswith("ConvergenceWarning: lbfgs failed to converge after 3")
    assert _keys(json.loads(out)) <= DOCUMENTED


def test_models_list_reads_a_bounded_slice_of_each_model_however_many_versions_it_has(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN churn with 300 versions (production at 299, the candidate at 300) and fraud with 2
    deps = fake_deps()
    registry = ModelRegistry.of(deps)
    for model, count in (("churn", 300), ("fraud", 2)):
        for n in range(1, count + 1):
            registry.register(model, f"{model}-run-{n}", {"test_metrics": {"roc_auc": 0.8}})
    registry.set_alias("churn", "production", 299, actor="test", reason="release")
    registry.set_alias("churn", "candidate", 300, actor="test", reason="newest")
    read: list[str] = []
    query = deps.table.iter_query

    def counted(*args: Any, **kwargs: Any) -> Any:
        for item in query(*args, **kwargs):
            read.append(item["SK"])
            yield item

    monkeypatch.setattr(deps.table, "iter_query", counted)

    # WHEN the models are listed
    code, out = slipway(deps, monkeypatch, capsys, "models", "list", "--json")

    # THEN each says how many versions it has, its newest, aliases and champion
    assert code == 0
    assert json.loads(out) == [
        {"model": "churn", "versions": 300, "latest": 300, "aliases": {"candidate": 300, "production": 299},
         "champion": 299},
        {"model": "fraud", "versions": 2, "latest": 2, "aliases": {}, "champion": None},
    ]  # fmt: skip
    # AND the table gave back a handful of items (one per model on the index, the newest version, the aliases),
    # not the 302 versions
    assert len(read) < 12, read
