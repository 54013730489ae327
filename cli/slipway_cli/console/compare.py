"""Comparing versions and runs: side by side, their metrics charted, per-label tables from the model cards, and
their candidates on parallel coordinates; read through the registry and the run records."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from slipway import layout
from slipway.errors import NotFound
from slipway.stores import runs
from slipway.stores.registry import ModelRegistry
from slipway_cli.commands import public
from slipway_cli.console.pages import artifact_bytes, metric_names
from slipway_cli.target import Target

__all__ = ["compare_page", "compare_runs"]


def compare_page(target: Target, model: str, versions: list[int]) -> dict[str, Any]:
    """Two or more versions side by side: parameters and test metrics, a chart of each metric per version, and
    the candidates of their runs on parallel coordinates (hyperparameters and validation metric)."""
    registry = ModelRegistry.of(target.deps)
    items = [public(registry.get_version(model, v)) for v in sorted(set(versions))]
    metrics = metric_names(items)
    bars = {
        "data": [
            {
                "type": "bar",
                "name": f"v{i['version']}",
                "x": metrics,
                "y": [(i.get("test_metrics") or {}).get(m) for m in metrics],
            }
            for i in items
        ],
        "layout": {"barmode": "group", "yaxis": {"title": {"text": "test split"}}},
    }
    candidates = []
    for i in items:
        for c in runs.candidates_of(target.deps, str(i.get("training_run_id") or i.get("run_id"))):
            candidates.append({**public(c), "version": i["version"]})
    metric = str(items[0].get("metric") or (metrics[0] if metrics else ""))
    per_label = []  # classification: each label's precision, recall and f1 on each version's test split (its card)
    classes = [_per_class(target, model, int(i["version"])) for i in items]
    for label in dict.fromkeys(k for c in classes for k in c):
        for measure in ("precision", "recall", "f1"):
            values = [(c.get(label) or {}).get(measure) for c in classes]
            per_label.append({"label": label, "measure": measure, "values": values})
    return {
        "model": model,
        "per_label": per_label,
        "versions": items,
        "metrics": metrics,
        "params": sorted({p for i in items for p in (i.get("params") or {})}),
        "chart": bars,
        "parallel": _parallel(candidates, metric),
        "metric": metric,
    }


def _per_class(target: Target, model: str, version: int) -> dict[str, Any]:
    """The per-label test metrics of a version's model card (none when it has no card or the role may not read it)."""
    try:
        card = json.loads(artifact_bytes(target, model, version, layout.MODEL_CARD_JSON))
    except (NotFound, ClientError, ValueError):
        return {}
    return dict((card.get("test_metrics") or {}).get("per_class") or {})


def compare_runs(target: Target, run_ids: list[str]) -> dict[str, Any]:
    """Two or more runs side by side: what each used and made (dataset, spec, best candidate, test metrics, outcome),
    a chart of their test metrics, and all their candidates on parallel coordinates (the run as a numbered axis)."""
    deps = target.deps
    chosen = [public(runs.find_run(deps, r)) for r in dict.fromkeys(run_ids)]
    metrics = metric_names(chosen)
    bars = {
        "data": [
            {
                "type": "bar",
                "name": f"run {n + 1}",
                "x": metrics,
                "y": [(r.get("test_metrics") or {}).get(m) for m in metrics],
            }
            for n, r in enumerate(chosen)
        ],
        "layout": {"barmode": "group", "yaxis": {"title": {"text": "test split"}}},
    }
    candidates = []
    for n, r in enumerate(chosen):
        candidates += [{**public(c), "version": n + 1} for c in runs.candidates_of(deps, str(r["run_id"]))]
    metric = next((m for m in ("roc_auc", "r2", "accuracy") if m in metrics), metrics[0] if metrics else "")
    parallel = _parallel(candidates, metric)
    if parallel is not None:
        parallel["data"][0]["dimensions"][0]["label"] = "run"
    return {"runs": chosen, "metrics": metrics, "chart": bars, "parallel": parallel, "metric": metric}


def _parallel(candidates: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """Parallel coordinates of the candidates: the version they trained for, each numeric hyperparameter, the
    validation metric (the line's colour)."""
    scored = [c for c in candidates if isinstance((c.get("validation_metrics") or {}).get(metric), (int, float))]
    if not scored:
        return None
    numeric = sorted(
        {
            p
            for c in scored
            for p, v in (c.get("params") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    )
    algorithms = sorted({str(c.get("algorithm")) for c in scored})
    dims = [
        {"label": "version", "values": [c["version"] for c in scored]},
        {
            "label": "algorithm",
            "values": [algorithms.index(str(c.get("algorithm"))) for c in scored],
            "tickvals": list(range(len(algorithms))),
            "ticktext": algorithms,
        },
    ]
    for p in numeric:
        values = [(c.get("params") or {}).get(p) for c in scored]
        dims.append({"label": p, "values": [v if isinstance(v, (int, float)) else None for v in values]})
    scores = [c["validation_metrics"][metric] for c in scored]
    dims.append({"label": metric, "values": scores})
    return {
        "data": [{"type": "parcoords", "line": {"color": scores, "showscale": True}, "dimensions": dims}],
        "layout": {},
        "rows": len(scored),
    }
