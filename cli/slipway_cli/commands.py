"""Operator commands over an environment's metadata: runs, models, lineage and reproduce.
Each returns (JSON-able value, rich renderable) so `--json` and the table view share one query."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from slipway import lineage_queries, runs
from slipway.domain.lineage import model_node
from slipway.ports import Deps
from slipway.registry import ModelRegistry, parse_ref


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value)) if value is not None else "—"


def runs_list(deps: Deps, model: str | None) -> tuple[Any, Any]:
    items = runs.list_runs(deps, model)
    table = Table(title=f"runs{' of ' + model if model else ''} (newest first)")
    for column in ("run", "model", "status", "started", "dataset", "model version", "outcome"):
        table.add_column(column)
    for r in items:
        ended = r.get("outcome") if r.get("outcome") not in (None, "registered") else None  # e.g. nothing_to_train
        outcome = r.get("error_type") or (ended and str(ended).replace("_", " ")) or r.get("gate_summary") or ""
        table.add_row(
            _fmt(r["run_id"]),
            _fmt(r.get("model")),
            _fmt(r.get("status")),
            _fmt(r.get("started_at", ""))[:19],
            _fmt(r.get("dataset_version", ""))[:12],
            _fmt(r.get("model_version")),
            _fmt(outcome)[:60],
        )
    return items, table


def runs_show(deps: Deps, run_id: str) -> tuple[Any, Any]:
    item = runs.get_run(deps, run_id)
    if item is None:
        raise LookupError(f"no run {run_id}")
    candidates = runs.candidates_of(deps, run_id)
    head = Table(title=f"run {run_id}", show_header=False)
    for key in sorted(k for k in item if not k.startswith(("PK", "SK", "GSI"))):
        head.add_row(key, _fmt(item[key]))
    board = Table(title="candidates (validation split)")
    for column in ("#", "algorithm", "params", "metrics", "fit s"):
        board.add_column(column)
    for k in candidates:
        metrics = ", ".join(f"{m}={v:.4f}" for m, v in k["validation_metrics"].items() if isinstance(v, float))
        board.add_row(str(k["index"]), k["algorithm"], _fmt(k["params"]), metrics, _fmt(k["fit_seconds"]))
    return {"run": item, "candidates": candidates}, Group(head, board)


def models_list(deps: Deps) -> tuple[Any, Any]:
    registry = ModelRegistry.of(deps)
    rows = []
    for model in registry.models():
        versions = registry.versions(model)
        rows.append(
            {
                "model": model,
                "versions": len(versions),
                "latest": versions[-1]["version"],
                "aliases": registry.aliases(model),
            }
        )
    table = Table(title="models")
    for column in ("model", "versions", "latest", "aliases"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["model"],
            str(r["versions"]),
            str(r["latest"]),
            ", ".join(f"{a}→v{v}" for a, v in sorted(r["aliases"].items())),
        )
    return rows, table


def served_versions(aliases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Who answers the HTTP API: production, and the challenger with its share of traffic."""
    production, challenger = aliases.get("production"), aliases.get("challenger")
    if production is None:
        return []
    weight = float(challenger["weight"]) if challenger and challenger.get("weight") else 0.0
    served = [{"variant": "production", "version": production["version"], "weight": 1 - weight}]
    if challenger is not None and weight:
        served.append({"variant": "challenger", "version": challenger["version"], "weight": weight})
    return served


def models_show(deps: Deps, ref: str) -> tuple[Any, Any]:
    registry = ModelRegistry.of(deps)
    item = registry.resolve(ref)
    model = item["model"]
    aliases = {a: v for a, v in registry.aliases(model).items() if v == item["version"]}
    served = served_versions(registry.alias_items(model))
    value = {
        **{k: v for k, v in item.items() if not k.startswith(("PK", "SK", "GSI"))},
        "aliases": aliases,
        "served": served,
    }
    table = Table(
        title=f"{model} v{item['version']}" + (f" ({', '.join(aliases)})" if aliases else ""), show_header=False
    )
    table.add_row("served", ", ".join(f"{s['variant']} v{s['version']} ({s['weight']:.0%})" for s in served) or "—")
    table.add_row("params", escape(item["params_json"]) if "params_json" in item else _fmt(item.get("params")))
    for key in (
        "algorithm",
        "registered_at",
        "dataset_version",
        "feature_set",
        "spec_version",
        "run_id",
        "code_version",
        "gate",
    ):
        table.add_row(key, _fmt(item.get(key)))
    for metric, v in item["test_metrics"].items():
        table.add_row(f"test {metric}", _fmt(v))
    table.add_row("onnx", _fmt(item["onnx"]))
    for name, artifact in item["artifacts"].items():
        table.add_row(name, f"{artifact['uri']}  sha256 {artifact['sha256'][:16]}…")
    return value, table


def lineage_of(deps: Deps, ref: str) -> tuple[Any, Any]:
    item = ModelRegistry.of(deps).resolve(ref)
    node = model_node(item["model"], int(item["version"]))
    nodes = lineage_queries.upstream(deps, node)
    value = {"node": node, "upstream": nodes, "code_version": item.get("code_version")}
    table = Table(title=f"lineage of {node} (upstream)")
    table.add_column("kind")
    table.add_column("id")
    for n in nodes:
        kind, _, rest = n.partition(":")
        table.add_row(kind, escape(rest))
    table.add_row("code", _fmt(item.get("code_version")))
    return value, table


def lineage_from(deps: Deps, uri: str) -> tuple[Any, Any]:
    models = lineage_queries.models_fed_by(deps, uri)
    table = Table(title=f"models fed by {uri}")
    table.add_column("model version")
    for m in models:
        table.add_row(m)
    return {"raw": uri, "models": models}, table


def reproduce_model(deps: Deps, ref: str) -> tuple[Any, Any]:
    from slipway.steps.reproduce import reproduce

    result = reproduce(deps, ModelRegistry.of(deps).resolve(ref))
    model, _ = parse_ref(ref)
    table = Table(
        title=f"reproduce {model} v{result['version']}: "
        + ("[green]identical[/]" if result["identical"] else "[red]different[/]")
    )
    for column in ("metric", "recorded", "reproduced", "|Δ|"):
        table.add_column(column)
    for row in result["metrics"]:
        table.add_row(row["metric"], _fmt(row["recorded"]), _fmt(row["reproduced"]), f"{row['abs_diff']:.2e}")
    return result, table
