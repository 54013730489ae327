"""What each console page shows, read through slipway's stores and the CLI's own functions (one query each, paged
where a list grows): plain dicts for the templates. No page reads the table any other way."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slipway import layout
from slipway.domain.lineage import model_node
from slipway.errors import NotFound, SlipwayError
from slipway.objects import S3Object
from slipway.stores import lineage, reproductions, runs
from slipway.stores.promotions import pending_approvals
from slipway.stores.registry import ModelRegistry
from slipway_cli import drift
from slipway_cli.commands import public, runs_show, served_versions
from slipway_cli.console import history, review
from slipway_cli.console.executions import execution_arn
from slipway_cli.console.graph import lineage_svg
from slipway_cli.target import Target

__all__ = [
    "approvals",
    "model_page",
    "models_overview",
    "run_page",
    "version_page",
]

PAGE = 25  # versions or runs a page lists
# where the model page's other lists start (query parameters)
CURSORS = ("history_before", "promotions_after", "drift_before", "audit_before")
REPRODUCTIONS = 5  # the newest reproductions a version page shows


def models_overview(target: Target) -> list[dict[str, Any]]:
    """Every model of the environment: what serves (production, challenger and their weights), the latest version,
    the last run (among the newest 100 of every model's), the last drift verdict and the promotions waiting for a
    person."""
    deps = target.deps
    registry = ModelRegistry.of(deps)
    newest, _ = history.newest_runs(deps)  # one query for every model's last run
    rows = []
    for model in registry.model_names():
        latest = registry.versions_page(model, limit=1)
        alias_items = registry.alias_items(model)
        last_run = [r for r in newest if r.get("model") == model][:1]
        checks, _ = drift.history(target, model, limit=1)
        rows.append(
            {
                "model": model,
                "latest": latest[0]["version"] if latest else None,
                "served": served_versions(alias_items),
                "aliases": {a: int(i["version"]) for a, i in alias_items.items()},
                "last_run": public(last_run[0]) if last_run else None,
                "drift": checks[0] if checks else None,
                "waiting": waiting(target, model),
            }
        )
    return rows


def waiting(target: Target, model: str) -> list[dict[str, Any]]:
    """The promotions of ``model`` waiting for a person here (the approvals `slipway approve` would answer)."""
    deps = target.deps
    found = []
    for approval in pending_approvals(deps, model, target.env):
        record = runs.get_run(deps, str(approval["execution"])) or {}
        if record.get("status") == "WAITING_FOR_APPROVAL":
            found.append({**public(approval), "record": public(record)})
    return sorted(found, key=lambda a: str(a.get("requested_at")), reverse=True)


def metric_names(versions: Iterable[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for v in versions:
        for name, value in (v.get("test_metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                names[name] = None
    return list(names)


def model_page(
    target: Target,
    model: str,
    *,
    before: int | None,
    metric: str | None,
    cursors: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """A model: a page of its versions (newest first), the chosen metric across them, its aliases, a page of their
    history, a page of its promotions, of its drift checks and of its audit trail (``cursors``: where each of those
    pages starts, ``history_before``, ``promotions_after``, ``drift_before``, ``audit_before``; None: the newest)."""
    cursors = cursors or {}
    deps = target.deps
    registry = ModelRegistry.of(deps)
    versions = [public(v) for v in registry.versions_page(model, limit=PAGE, before=before)]
    if not versions and before is None:
        raise NotFound(f"model {model} has no registered version in {target.env}", {"model": model})
    alias_items = registry.alias_items(model)
    by_version: dict[int, list[str]] = {}
    for alias, item in alias_items.items():
        by_version.setdefault(int(item["version"]), []).append(alias)
    names = metric_names(versions)
    spec_metric = versions[0].get("metric") if versions else None  # what the spec ranks candidates by
    chosen = metric if metric in names else (spec_metric if spec_metric in names else (names[0] if names else None))
    points = sorted(
        ((int(v["version"]), (v.get("test_metrics") or {}).get(chosen)) for v in versions if chosen),
        key=lambda p: p[0],
    )
    chart = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [p[0] for p in points if p[1] is not None],
                "y": [p[1] for p in points if p[1] is not None],
                "name": chosen,
            }
        ],
        "layout": {"xaxis": {"title": {"text": "version"}, "dtick": 1}, "yaxis": {"title": {"text": chosen}}},
    }
    moves, older_moves = history.alias_moves(deps, model, cursors.get("history_before"))
    entries, older_entries = history.audit_entries(deps, model, cursors.get("audit_before"))
    promotions, older_promotions = history.promotions(deps, model, cursors.get("promotions_after"))
    checks, older_checks = history.drift_checks(deps, model, cursors.get("drift_before"))
    oldest = int(versions[-1]["version"]) if versions else None
    return {
        "model": model,
        "versions": [{**v, "aliases": sorted(by_version.get(int(v["version"]), []))} for v in versions],
        "metrics": names,
        "metric": chosen,
        "chart": chart,
        "aliases": alias_items,
        "served": served_versions(alias_items),
        "history": moves,
        "older_history": older_moves,
        "promotions": promotions,
        "older_promotions": older_promotions,
        "promotions_read": history.RUNS_READ,
        "promotions_chart": _promotions_chart(promotions),
        "drift": checks,
        "older_drift": older_checks,
        "drift_chart": _drift_chart(target, checks),
        "audit": entries,
        "older_audit": older_entries,
        "older": oldest if oldest is not None and oldest > 1 and len(versions) == PAGE else None,
        "waiting": waiting(target, model),
    }


DRIFT_SERIES = 10  # the newest checks whose per-feature statistics the model page charts (one S3 read each)


def _ms_between(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds() * 1000
    except ValueError:
        return None


def _promotions_chart(promotions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The promotions on a timeline, one row each, in their phases: waiting for a person (requested → answered), the
    canary's bake (canary start → end), and the whole promotion (start → end, or now while it runs)."""
    now = datetime.now(UTC).isoformat()
    phases: dict[str, dict[str, list[Any]]] = {}

    def add(phase: str, row: str, start: Any, end: Any) -> None:
        width = _ms_between(start, end) if start and end else None
        if width is not None and width >= 0:
            bar = phases.setdefault(phase, {"y": [], "base": [], "x": []})
            bar["y"].append(row)
            bar["base"].append(str(start))
            bar["x"].append(max(width, 1.0))

    for p in reversed(promotions[:20]):
        moved = f"v{p.get('source_version', '?')} → v{p.get('target_version', '?')}"
        row = f"{p.get('source_env')} {moved}: {p.get('status')} ({str(p.get('started_at'))[11:19]})"
        add("promotion", row, p.get("started_at"), p.get("ended_at") or now)
        approval = p.get("approval") or {}
        if approval.get("at"):
            add("waiting for a person", row, p.get("started_at"), approval["at"])
        if p.get("canary_started_at"):
            add("canary", row, p["canary_started_at"], p.get("ended_at") or now)
    if not phases:
        return None
    return {
        "data": [{"type": "bar", "orientation": "h", "name": phase, **bars} for phase, bars in phases.items()],
        "layout": {"barmode": "overlay", "xaxis": {"type": "date"}, "yaxis": {"automargin": True}},
    }


def _drift_chart(target: Target, checks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Each feature's population stability index across the newest checks (from each check's stored result), a
    marker where its test called drift; hovering names the test, statistic and verdict."""
    series: dict[str, dict[str, list[Any]]] = {}
    lake = target.deps.settings.lake_bucket
    for check in reversed(checks[:DRIFT_SERIES]):
        if not check.get("report_uri"):  # nothing was checked (nothing in production)
            continue
        try:
            result = target.deps.store.get_json(layout.drift_result(lake, str(check["model"]), str(check["check_id"])))
        except NotFound:
            continue
        for feature in result.get("features") or []:
            line = series.setdefault(str(feature["name"]), {"x": [], "y": [], "text": [], "size": []})
            line["x"].append(str(check["at"])[:19])
            line["y"].append(feature.get("psi"))
            line["text"].append(
                f"{feature['name']}: {feature.get('test')} {feature.get('statistic')} → {feature.get('verdict')}"
            )
            line["size"].append(12 if feature.get("verdict") == "drift" else 6)
    if not series:
        return None
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": s["x"],
                "y": s["y"],
                "text": s["text"],
                "hoverinfo": "text",
                "marker": {"size": s["size"]},
            }
            for name, s in sorted(series.items())
        ],
        "layout": {
            "xaxis": {"title": {"text": "check"}, "type": "category"},
            "yaxis": {"title": {"text": "PSI against training"}},
        },
    }


def version_page(target: Target, model: str, version: int, others: Sequence[Target] = ()) -> dict[str, Any]:
    """A version: its record, candidates' leaderboard, lineage as a graph, the promotions it took part in (here,
    and in the ``others`` environments the console reads, where this version was their source) and its newest
    reproductions."""
    deps = target.deps
    registry = ModelRegistry.of(deps)
    item = public(registry.get_version(model, version))
    aliases = sorted(a for a, v in registry.aliases(model).items() if int(v) == version)
    training_run = str(item.get("training_run_id") or item.get("run_id"))
    candidates = [public(c) for c in runs.candidates_of(deps, training_run)]
    metric = str(item.get("metric") or next(iter(item.get("test_metrics") or {}), ""))
    leaderboard = sorted(
        candidates,
        key=lambda c: -float((c.get("validation_metrics") or {}).get(metric, float("-inf")) or float("-inf")),
    )
    node = model_node(model, version)
    edges = lineage.upstream_edges(deps, node)
    took_part = history.version_promotions(target, others, model, version, item)
    environments: dict[str, dict[int, list[str]]] = {}  # what each version serves as where the promotions went
    for env_target in (target, *others):
        if any((p.get("target_env") or target.env) == env_target.env for p in took_part):
            try:
                held = ModelRegistry.of(env_target.deps).aliases(model)
            except (ClientError, BotoCoreError, SlipwayError):
                continue
            for alias, number in held.items():
                environments.setdefault(env_target.env, {}).setdefault(int(number), []).append(alias)
    return {
        "model": model,
        "version": version,
        "item": item,
        "aliases": aliases,
        "metric": metric,
        "leaderboard": leaderboard,
        "edges": edges,
        "node": node,
        "promotions": took_part,
        "graph": lineage_svg(edges, node, took_part, environments),
        "reproductions": [public(r) for r in reproductions.latest(deps, model, version, limit=REPRODUCTIONS)],
        "artifacts": item.get("artifacts") or {},
    }


def artifact_bytes(target: Target, model: str, version: int, name: str) -> bytes:
    """One of a version's artifacts (the model card, the ONNX model…), as the registry records it."""
    item = ModelRegistry.of(target.deps).get_version(model, version)
    artifact = (item.get("artifacts") or {}).get(name)
    if artifact is None:
        raise NotFound(f"{model} v{version} has no artifact {name!r}", {"artifact": name})
    return target.deps.store.get_bytes(S3Object.parse(str(artifact["uri"])))


def drift_report(target: Target, model: str, check_id: str) -> bytes:
    """A drift check's HTML report (the newest 100 checks of the model)."""
    checks, _ = drift.history(target, model, limit=100)
    chosen = next((c for c in checks if c.get("check_id") == check_id and c.get("report_uri")), None)
    if chosen is None:
        raise NotFound(f"no drift report {check_id!r} of {model} in {target.env}", {"check": check_id})
    return target.deps.store.get_bytes(S3Object.parse(str(chosen["report_uri"])))


def run_page(target: Target, run_id: str) -> dict[str, Any]:
    """A run: its record, steps with their durations, candidates, the champion comparison and the validation
    report (the quarantine's findings for a refused upload; the column profile of an accepted one)."""
    deps = target.deps
    value, _ = runs_show(deps, run_id)
    run = value["run"]
    report: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    model = str(run.get("model") or "")
    if run.get("error_type") in ("DataContractViolation", "SpecError") and model:
        try:
            report = deps.store.get_json(layout.quarantine_report(deps.settings.lake_bucket, model, str(run["run_id"])))
        except NotFound:
            report = None
    if run.get("dataset_version") and model:
        dataset = deps.table.get(*layout.dataset_key(model, str(run["dataset_version"]))) or {}
        if dataset.get("profile_uri"):
            profile = deps.store.get_json(S3Object.parse(str(dataset["profile_uri"])))
    canary = None
    if run.get("canary_report"):  # the challenger beside the champion, as the canary judged them
        try:
            canary = deps.store.get_json(S3Object.parse(str(run["canary_report"])))
        except NotFound:
            canary = None
    return {**value, "report": report, "profile": profile, "canary": canary, "steps": steps_of(target, run)}


def steps_of(target: Target, run: dict[str, Any]) -> dict[str, Any]:
    """The run's steps from its execution's history: each state's start, end and duration (seconds)."""
    arn = execution_arn(target, run)
    if not arn:
        return {"steps": [], "error": None}
    events = target.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered: dict[str, datetime] = {}
    steps: list[dict[str, Any]] = []
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = event["timestamp"]
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            start = entered.pop(name, event["timestamp"])
            seconds = (event["timestamp"] - start).total_seconds()
            steps.append({"name": name, "started": start.isoformat(), "seconds": seconds, "failed": False})
    for name, start in entered.items():  # entered and never left: running, or where it failed
        steps.append(
            {"name": name, "started": start.isoformat(), "seconds": None, "failed": run.get("status") == "FAILED"}
        )
    return {"steps": steps, "error": None}


def approvals(target: Target, targets: Mapping[str, Target] | None = None) -> list[dict[str, Any]]:
    """Every promotion waiting for a person in this environment, with what a reviewer weighs: the candidate's
    metrics beside the champion's (both as registered here), the drift that caused it and the canaries it has had
    (read in ``targets``, the environments the console reads)."""
    registry = ModelRegistry.of(target.deps)
    found = []
    for model in registry.model_names():
        for approval in waiting(target, model):
            record = approval["record"]
            candidate = _version_or_none(registry, model, record.get("target_version") or approval.get("version"))
            champion = _version_or_none(registry, model, record.get("champion"))
            checks, _ = drift.history(target, model, limit=1)
            metrics = sorted(
                set((candidate or {}).get("test_metrics") or {}) | set((champion or {}).get("test_metrics") or {})
            )
            found.append(
                {
                    **approval,
                    "model": model,
                    "candidate": candidate,
                    "champion": champion,
                    "drift": checks[0] if checks else None,
                    "review": review.review({target.env: target, **(targets or {})}, target.env, candidate),
                    "metrics": [
                        {
                            "metric": m,
                            "candidate": ((candidate or {}).get("test_metrics") or {}).get(m),
                            "champion": ((champion or {}).get("test_metrics") or {}).get(m),
                        }
                        for m in metrics
                    ],
                }
            )
    return found


def _version_or_none(registry: ModelRegistry, model: str, version: Any) -> dict[str, Any] | None:
    if version is None:
        return None
    try:
        return public(registry.get_version(model, int(version)))
    except NotFound:
        return None


def pretty(value: Any) -> str:
    """A value as a cell shows it: floats to 4 places, dicts and lists as compact JSON."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return "—" if value is None else str(value)
