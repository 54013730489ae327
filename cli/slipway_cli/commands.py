"""Operator commands over an environment's metadata: runs, models, lineage and reproduce.
Each returns (JSON-able value, rich renderable) so `--json` and the table view share one query. The JSON holds
public field names only (docs/cli.md lists them): no table keys, and parameters exactly as trained."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from slipway.domain.lineage import model_node
from slipway.errors import NotFound
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores import lineage, runs
from slipway.stores.registry import ModelRegistry, parse_ref

# Storage attributes that are not part of any command's answer.
_INTERNAL = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "params_json"})
RUN_ID_SHOWN = 12  # the shortest prefix shown for a run id (longer where needed to stay unique)


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An item as commands show it: table keys dropped, ``params`` exactly as trained (1.0 stays 1.0, which
    DynamoDB numbers would turn into 1)."""
    out = {k: v for k, v in item.items() if k not in _INTERNAL}
    if "params_json" in item:
        out["params"] = json.loads(item["params_json"])
    return out


def number(value: Any) -> str:
    """A metric as text: floats to 4 decimals, whole numbers as they are (DynamoDB gives 1.0 back as 1)."""
    if isinstance(value, bool) or value is None:
        return _fmt(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return str(value)
    return _fmt(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value)) if value is not None else "—"


def _params(item: dict[str, Any]) -> str:
    text = item.get("params_json") or json.dumps(item.get("params", {}), sort_keys=True)
    return escape(str(text))


def unique_prefixes(ids: list[str], shortest: int = RUN_ID_SHOWN) -> dict[str, str]:
    """Each id cut to the shortest prefix (at least ``shortest`` long) that no other id starts with, as
    `runs show` accepts it."""
    out = {}
    for run_id in ids:
        n = min(shortest, len(run_id))
        while n < len(run_id) and any(o != run_id and o.startswith(run_id[:n]) for o in ids):
            n += 1
        out[run_id] = run_id[:n]
    return out


def _metrics_text(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{m}={number(v)}" for m, v in metrics.items() if not isinstance(v, (list, dict)))


def runs_list(deps: Deps, model: str | None) -> tuple[Any, Any]:
    items = [public(r) for r in runs.list_runs(deps, model)]
    shown = unique_prefixes([str(r["run_id"]) for r in items])
    table = Table(title=f"runs{' of ' + model if model else ''} (newest first; `runs show` takes any unique prefix)")
    table.add_column("run", no_wrap=True, overflow="fold")
    for column in ("model", "status", "started", "dataset", "model version", "outcome"):
        table.add_column(column)
    for r in items:
        ended = r.get("outcome") if r.get("outcome") not in (None, "registered") else None  # e.g. nothing_to_train
        outcome = r.get("error_type") or (ended and str(ended).replace("_", " ")) or r.get("gate_summary") or ""
        table.add_row(
            escape(shown[str(r["run_id"])]),
            _fmt(r.get("model")),
            _fmt(r.get("status")),
            _fmt(r.get("started_at", ""))[:19],
            _fmt(r.get("dataset_version", ""))[:12],
            _fmt(r.get("model_version")),
            _fmt(outcome)[:60],
        )
    return items, table


def _champion_comparison(deps: Deps, run: dict[str, Any]) -> dict[str, Any] | None:
    """The champion the run's challenger was measured against, and the side-by-side metrics."""
    if run.get("champion_version") is None or not run.get("evaluation_uri"):
        return None
    try:
        report = deps.store.get_json(S3Object.parse(str(run["evaluation_uri"])))
    except NotFound:
        return {"version": run["champion_version"], "comparison": []}
    return {"version": run["champion_version"], "comparison": report.get("comparison", [])}


def _failure_text(candidate: dict[str, Any]) -> str:
    """A candidate that failed to train: its error, and the start of its cause."""
    cause = str(candidate.get("cause") or "")
    limit = f" (past its {candidate['limit']})" if candidate.get("limit") else ""
    return escape(f"FAILED {candidate.get('error', '')}{limit}" + (f": {cause[:120]}" if cause else ""))


def _kilobytes(candidate: dict[str, Any]) -> str:
    """The candidate's ONNX export in KB (1,000 bytes), or why it has none."""
    if candidate.get("onnx_bytes") is not None:
        return f"{float(candidate['onnx_bytes']) / 1000:,.1f}"
    return escape(f"no ONNX: {str(candidate['onnx_error'])[:80]}") if candidate.get("onnx_error") else "—"


def _result_text(candidate: dict[str, Any]) -> str:
    """Won, or why it lost (score, gate, failed) — "—" while the run has not been evaluated."""
    if candidate.get("outcome") == "won":
        return "won"
    if candidate.get("outcome") == "lost":
        return escape(f"lost ({candidate.get('reason')}): {candidate.get('detail')}")
    return "—"


def _selection_metric(deps: Deps, run: dict[str, Any]) -> str:
    """The metric the run's spec selects on ("" when its spec cannot be read)."""
    from slipway.errors import SlipwayError
    from slipway.stores.specs import training_spec

    try:
        training = training_spec(deps, str(run["model"]), str(run["spec_version"])).training
    except (KeyError, SlipwayError):
        return ""
    return training.metric if training is not None else ""


def _cv_text(cv: dict[str, Any] | None, metric: str) -> str:
    if not cv or cv["mean"].get(metric) is None:
        return "—"
    sd = cv["sd"].get(metric)
    return f"{_fmt(cv['mean'][metric])} ± {_fmt(sd)}" if sd is not None else _fmt(cv["mean"][metric])


def runs_show(deps: Deps, ref: str) -> tuple[Any, Any]:
    item = public(runs.find_run(deps, ref))
    run_id = str(item["run_id"])
    candidates = [public(k) for k in runs.candidates_of(deps, run_id)]
    champion = _champion_comparison(deps, item)
    head = Table(title=f"run {escape(run_id)}", show_header=False)
    for key in sorted(item):
        value = item[key]
        head.add_row(key, _metrics_text(value) if key == "test_metrics" else _fmt(value))
    board = Table(title="candidates (validation split)")
    folded = [k["cv"] for k in candidates if k.get("cv")]
    metric = _selection_metric(deps, item) if folded else ""
    cv_column = [f"{metric}, {folded[0]['folds']} folds"] if folded and metric else []  # mean ± sd
    for column in ("#", "algorithm", "params", "metrics", *cv_column, "fit s"):
        board.add_column(column)
    board.add_column("flags", min_width=len("numerical_warning"))  # a flag is read whole, not folded
    # what each would cost to serve, and why it lost: a table of its own, so the first one keeps its width
    costs = Table(title="candidates: serving cost (ONNX, 1 thread) and result")
    for column in ("#", "fit s", "predict ms / 1,000 rows", "ONNX KB", "result"):
        costs.add_column(column)
    for k in candidates:
        board.add_row(
            str(k["index"]), k["algorithm"], escape(json.dumps(k["params"], sort_keys=True)),
            _metrics_text(k["validation_metrics"]) if "validation_metrics" in k else _failure_text(k),
            *([_cv_text(k.get("cv"), metric)] if cv_column else []),
            _fmt(k.get("fit_seconds")),
            escape(", ".join(k.get("flags") or [])) or "—",
        )  # fmt: skip
        costs.add_row(
            str(k["index"]), _fmt(k.get("fit_seconds")), _fmt(k.get("predict_ms_per_1000")), _kilobytes(k),
            _result_text(k),
        )  # fmt: skip
    parts: list[Any] = [head, board, costs]
    raised = [(k["index"], text) for k in candidates for text in k.get("warnings") or []]
    if raised:
        warned = Table(title="warnings raised while training (the candidate's own)")
        for column in ("#", "warning"):
            warned.add_column(column)
        for index, text in raised:
            warned.add_row(str(index), escape(text))
        parts.append(warned)
    if champion is not None:
        versus = Table(title=f"challenger vs champion v{champion['version']} (test split of this run)")
        for column in ("metric", "champion", "challenger", "delta", "better"):
            versus.add_column(column)
        for row in champion["comparison"]:
            versus.add_row(
                row["metric"], number(row["champion"]), number(row["challenger"]), number(row["delta"]), row["better"]
            )
        parts.append(versus)
    return {"run": item, "candidates": candidates, "champion": champion}, Group(*parts)


def models_list(deps: Deps) -> tuple[Any, Any]:
    """Every model: a bounded read each (its newest version, its aliases, its champion), however many versions it
    has. Version numbers have no gaps (``ModelRegistry.register``), so the newest one is how many there are."""
    registry = ModelRegistry.of(deps)
    rows: list[dict[str, Any]] = []
    for model in registry.model_names():
        latest = int(registry.versions_page(model, limit=1)[0]["version"])
        champion = registry.champion(model)
        rows.append(
            {
                "model": model,
                "versions": latest,
                "latest": latest,
                "aliases": registry.aliases(model),
                "champion": int(champion["version"]) if champion else None,
            }
        )
    table = Table(title="models")
    for column in ("model", "versions", "latest", "aliases", "champion"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["model"],
            str(r["versions"]),
            str(r["latest"]),
            ", ".join(f"{a}→v{v}" for a, v in sorted(r["aliases"].items())),
            _fmt(r["champion"]),
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
    champion = registry.champion(model)
    if champion is not None and champion["version"] == item["version"]:
        aliases["champion"] = int(item["version"])  # read-only: production, else the candidate
    served = served_versions(registry.alias_items(model))
    value = {**public(item), "aliases": aliases, "served": served}
    title = f"{model} v{item['version']}" + (f" ({', '.join(aliases)})" if aliases else "")
    table = Table(title=escape(title), show_header=False)
    table.add_row("served", ", ".join(f"{s['variant']} v{s['version']} ({s['weight']:.0%})" for s in served) or "—")
    table.add_row("params", _params(item))
    for key in ("algorithm", "task", "labels", "positive_label", "registered_at", "dataset_version", "feature_set",
                "spec_version", "run_id", "code_version", "gate"):  # fmt: skip
        if key in item:
            table.add_row(key, _fmt(item.get(key)))
    for metric, v in item["test_metrics"].items():
        table.add_row(f"test {metric}", number(v))
    table.add_row("onnx", _fmt(item["onnx"]))
    for name, artifact in item["artifacts"].items():
        table.add_row(name, f"{escape(artifact['uri'])}  sha256 {artifact['sha256'][:16]}…")
    return value, table


def lineage_of(deps: Deps, ref: str) -> tuple[Any, Any]:
    item = ModelRegistry.of(deps).resolve(ref)
    node = model_node(item["model"], int(item["version"]))
    nodes = lineage.upstream(deps, node)
    value = {"node": node, "upstream": nodes, "code_version": item.get("code_version")}
    table = Table(title=f"lineage of {escape(node)} (upstream)")
    table.add_column("kind")
    table.add_column("id", overflow="fold")
    for n in nodes:
        kind, _, rest = n.partition(":")
        table.add_row(kind, escape(rest))
    table.add_row("code", _fmt(item.get("code_version")))
    return value, table


def lineage_from(deps: Deps, uri: str) -> tuple[Any, Any]:
    models = lineage.models_fed_by(deps, uri)
    table = Table(title=f"models fed by {escape(uri)}")
    table.add_column("model version")
    for m in models:
        table.add_row(escape(m))
    return {"raw": uri, "models": models}, table


_VERDICT = {
    "identical": "[green]identical[/] (bit for bit)",
    "within_tolerance": "[green]reproduced[/] within tolerance {tolerance:g}",
    "different": "[red]different[/] (tolerance {tolerance:g})",
}


def reproduce_model(deps: Deps, ref: str) -> tuple[Any, Any]:
    from slipway.steps.training.reproduce import reproduce

    result = reproduce(deps, ModelRegistry.of(deps).resolve(ref))
    model, _ = parse_ref(ref)
    verdict = _VERDICT[result["status"]].format(tolerance=result["tolerance"])
    largest = "—" if result["max_diff"] is None else f"{result['max_diff']:.2e}"
    table = Table(
        title=f"reproduce {escape(model)} v{result['version']}: {verdict}",
        caption=f"largest difference {largest}, relative to max(1, |recorded|); accepted up to "
        f"{result['tolerance']:g} where floating-point summation order may differ"
        + ("" if result["feature_set_matches"] else "; the feature set differs from the recorded one"),
    )
    for column in ("metric", "recorded", "reproduced", "difference"):
        table.add_column(column)
    for row in result["metrics"]:
        diff = "—" if row["diff"] is None else f"{row['diff']:.2e}"
        table.add_row(row["metric"], number(row["recorded"]), number(row["reproduced"]), diff)
    return result, table


def audit_view(target: Any, model: str) -> tuple[list[dict[str, Any]], Any]:
    """`slipway audit MODEL`: the model's audit trail in the target's environment, oldest first."""
    from slipway.stores.audit import trail

    entries = [public(e) for e in trail(target.deps, model)]
    table = Table(title=f"{model} in {target.env}: audit trail (oldest first)")
    for column in ("at", "what", "by", "execution", "reason", "details"):
        table.add_column(column)
    for e in entries:
        details = e.get("details") or {}
        table.add_row(
            str(e.get("at", ""))[:23],
            escape(str(e.get("kind"))),
            escape(str(e.get("principal"))),
            escape(str(e.get("execution") or "").rsplit(":", 1)[-1]),
            escape(str(e.get("reason") or "")),
            escape(", ".join(f"{k}={v}" for k, v in details.items())),
        )
    return entries, table
