"""The model card: a JSON record and a self-contained HTML page saying what a model version is and why it passed."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np

from slipway.spec.training import metric_direction

__all__ = ["CARD_SCHEMA", "build_model_card", "render_html"]

CARD_SCHEMA = "slipway.model_card/1"
_LINEAGE_ORDER = (
    ("raw_objects", "Raw objects"),
    ("dataset_version", "Dataset version"),
    ("feature_set", "Feature set"),
    ("run", "Run"),
    ("spec_version", "Spec version"),
    ("code_version", "Code version"),
)
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:2rem auto;max-width:980px;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.sub{color:#59636e;margin-top:0}table{border-collapse:collapse;margin:.5rem 0;min-width:40%}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,monospace;word-break:break-all}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;font-weight:600}
.pass{background:#1a7f37}.fail{background:#cf222e}.best{background:#dafbe1}
.bar{background:#0969da;height:.8rem;border-radius:2px}.barcell{width:40%}
"""


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays unwrapped, NaN/inf to None, tuples to lists, keys to text."""
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        items = sorted(value, key=str) if isinstance(value, set) else list(value)
        return [_jsonable(v) for v in items]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def build_model_card(
    *,
    model: str,
    version: int | str,
    task: str,
    metric: str,
    test_metrics: dict[str, Any],
    validation_metrics: dict[str, Any],
    candidates: list[dict[str, Any]],
    best: dict[str, Any],
    failed_candidates: list[dict[str, Any]] | None = None,
    fairness: dict[str, Any],
    importances: list[dict[str, Any]],
    comparison: list[dict[str, Any]],
    gate: Any,
    lineage: dict[str, Any],
    artifacts: dict[str, Any],
    onnx: dict[str, Any],
    labels: list[Any] | None = None,
    positive_label: Any = None,
    missing: list[dict[str, Any]] | None = None,
    explanations: dict[str, Any] | None = None,
    decision: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the card shows, as JSON-able data (stored next to the artifacts, rendered by ``render_html``).

    ``gate`` is a ``GateDecision`` or its ``to_dict()``; ``fairness`` maps attribute -> ``fairness(...)``;
    ``labels`` are a classifier's labels in class order; ``missing`` each input's fill and learnt value.
    """
    card = {
        "schema": CARD_SCHEMA,
        "model": model,
        "version": version,
        "task": task,
        "metric": metric,
        "test_metrics": test_metrics,
        "validation_metrics": validation_metrics,
        "candidates": candidates,
        "failed_candidates": failed_candidates or [],
        "best": best,
        "fairness": fairness,
        "importances": importances,
        "comparison": comparison,
        "gate": gate,
        "lineage": lineage,
        "artifacts": artifacts,
        "onnx": onnx,
        "labels": labels,
        "positive_label": positive_label,
        "missing": missing or [],
        "explanations": explanations or {},
        "decision": decision or {"threshold": None, "rule": "the most probable label"},
    }
    out: dict[str, Any] = _jsonable(card)
    json.dumps(out, allow_nan=False)  # fail here, not in Step Functions, if anything slipped through
    return out


def _text(value: Any) -> str:
    """Escaped display text: floats to 4 decimals (tiny or huge ones in 4 significant digits), None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e9 else f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return escape(json.dumps(value, sort_keys=True, default=str))
    return escape(str(value))


def _cell(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="n">{_text(value)}</td>' if numeric else f"<td>{_text(value)}</td>"


def _table(headers: list[str], rows: list[list[Any]], row_classes: list[str] | None = None) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>{''.join(_cell(v) for v in row)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(params.items())) or "(defaults)"


def _metrics_section(card: dict[str, Any]) -> str:
    test, val = card["test_metrics"], card["validation_metrics"]
    names = [k for k in test if k != "confusion_matrix"] + [k for k in val if k not in test]
    rows = [[("★ " if n == card["metric"] else "") + n, test.get(n), val.get(n)] for n in names]
    html = _table(["metric", "test", "validation"], rows)
    matrix = test.get("confusion_matrix")
    decision = card.get("decision") or {}
    threshold = decision.get("threshold")
    if card["task"] == "classification":
        rule = decision.get("rule") or "the most probable label"
        shown = "" if threshold is None else f"P({_label(card.get('positive_label'))}) ≥ {_text(threshold)}: "
        html += f"<p>Predicted label: {escape(shown)}{escape(rule)}.</p>"
    if card["task"] == "classification" and matrix:
        names = [_label(v) for v in card.get("labels") or range(len(matrix))]
        predicted = "the most probable label" if threshold is None else f"decision threshold {_text(threshold)}"
        html += f"<h3>Confusion matrix (test; rows actual, columns predicted: {predicted})</h3>" + _table(
            ["", *(f"predicted {n}" for n in names)],
            [[f"actual {n}", *row] for n, row in zip(names, matrix, strict=True)],
        )
    per_class = test.get("per_class")
    if per_class:
        rows = [
            [name, r.get("precision"), r.get("recall"), r.get("f1"), r.get("support")] for name, r in per_class.items()
        ]
        html += "<h3>Per label (test)</h3>" + _table(["label", "precision", "recall", "f1", "support"], rows)
    return html


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _labels_section(card: dict[str, Any]) -> str:
    labels = card.get("labels")
    if not labels:
        return ""
    order = ", ".join(f"{j} = <code>{escape(_label(v))}</code>" for j, v in enumerate(labels))
    positive = card.get("positive_label")
    shown = f" Positive label: <code>{escape(_label(positive))}</code>." if positive is not None else ""
    return f"<p>Labels in class order (model output j is label j): {order}.{shown}</p>"


def _missing_section(missing: list[dict[str, Any]]) -> str:
    if not missing:
        return "<p>None recorded.</p>"
    rows = [[m.get("column"), m.get("kind"), m.get("fill"), m.get("value")] for m in missing]
    note = "<p>A missing value at prediction time is filled with the value learnt on the training split.</p>"
    return note + _table(["column", "kind", "fill", "learnt value"], rows)


def _fairness_section(fairness: dict[str, Any]) -> str:
    if not fairness:
        return "<p>No sensitive attribute declared.</p>"
    parts = []
    for attribute, report in fairness.items():
        summary = (
            f"demographic parity difference {_text(report.get('demographic_parity_difference'))}, "
            f"equal opportunity difference {_text(report.get('equal_opportunity_difference'))}"
        )
        by_class = report.get("by_class") or {None: report}
        tables = []
        for label, rep in by_class.items():
            rows = [[g, s.get("n"), s.get("positive_rate"), s.get("tpr")] for g, s in rep.get("groups", {}).items()]
            caption = "" if label is None else f"<h4>label {escape(str(label))} (one vs rest)</h4>"
            tables.append(caption + _table(["group", "n", "predicted rate", "true positive rate"], rows))
        parts.append(f"<h3>{escape(attribute)}</h3><p>{summary}</p>" + "".join(tables))
    return "".join(parts)


def _importances_section(importances: list[dict[str, Any]]) -> str:
    if not importances:
        return "<p>None computed.</p>"
    peak = max((max(float(r["importance"] or 0.0), 0.0) for r in importances), default=0.0) or 1.0
    rows = []
    for r in importances:
        width = max(float(r["importance"] or 0.0), 0.0) / peak * 100
        bar = f'<div class="bar" style="width:{width:.1f}%"></div>'
        rows.append(
            f"<tr><td>{_text(r['feature'])}</td>{_cell(r['importance'])}{_cell(r.get('std'))}"
            f'<td class="barcell">{bar}</td></tr>'
        )
    head = "<tr><th>feature</th><th>importance</th><th>std</th><th></th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _contributions_section(explanations: dict[str, Any]) -> str:
    """The mean absolute per-row contribution of each raw feature, in the units of the model's output."""
    means = explanations.get("mean_abs_contribution") or {}
    if explanations.get("status") != "ok" or not means:
        return f"<p>Not available: {_text(explanations.get('error') or 'not computed for this version')}.</p>"
    peak = max(means.values()) or 1.0
    rows = [
        f'<tr><td>{_text(name)}</td>{_cell(value)}<td class="barcell"><div class="bar" '
        f'style="width:{max(float(value), 0.0) / peak * 100:.1f}%"></div></td></tr>'
        for name, value in means.items()
    ]
    head = f"<tr><th>feature</th><th>mean |contribution| ({_text(explanations.get('units'))})</th><th></th></tr>"
    method = "TreeSHAP (path-dependent)" if explanations.get("method") == "tree_path_dependent" else "exact (linear)"
    over = f" over {_text(explanations['rows'])} test rows" if explanations.get("rows") else ""
    return f'<p>{method}{over}; a request with <code>"explain": true</code> gets these per row.</p>' + (
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _leaderboard(card: dict[str, Any]) -> str:
    """Every candidate, best first: its validation score (and the folds' mean ± sd), fit time, what it would cost to
    serve (prediction time per 1,000 rows, ONNX size) and why it lost; the ones that failed to train last."""
    metric = card["metric"]
    sign = -1.0 if metric_direction(metric) == "max" else 1.0

    def key(result: dict[str, Any]) -> tuple[int, float, int]:
        value = result.get("metrics", {}).get(metric)
        return (value is None, sign * (value or 0.0), result.get("index", 0))

    ranked = sorted(card["candidates"], key=key) + sorted(card.get("failed_candidates", []), key=key)
    best_index = card["best"].get("index")
    folded = [r["cv"] for r in ranked if r.get("cv")]
    rows = [[r.get("index"), r.get("algorithm"), _params(r.get("params", {})), r.get("metrics", {}).get(metric),
             *([_folds_text(r.get("cv"), metric)] if folded else []), r.get("fit_seconds"),
             r.get("predict_ms_per_1000"), r.get("onnx_bytes") if r.get("onnx_bytes") is not None else
             ("no ONNX: " + str(r["onnx_error"])[:120] if r.get("onnx_error") else None), _result(r)]
            for r in ranked]  # fmt: skip
    classes = ["best" if r.get("index") == best_index and "failed" not in r else "" for r in ranked]
    cv_head = [f"{metric} over {folded[0]['folds']} folds (mean ± sd; chose the winner)"] if folded else []
    heads = ["#", "algorithm", "params", f"{metric} (validation)", *cv_head, "fit s", "predict ms / 1,000 rows",
             "ONNX bytes", "result"]  # fmt: skip
    note = (
        "<p>Prediction time: the candidate's ONNX model on one thread (as served), the median of 5 batches of 1,000 "
        "validation rows, measured in the train step.</p>"
    )
    return note + _table(heads, rows, classes)


def _result(candidate: dict[str, Any]) -> str | None:
    """won, or lost and why: its score beside the winner's, the gates, or the failure (and the limit it met)."""
    if candidate.get("outcome") == "won":
        return "won"
    if candidate.get("outcome") == "lost":
        return f"lost ({candidate.get('reason')}): {candidate.get('detail')}"
    return None


def _folds_text(cv: dict[str, Any] | None, metric: str) -> str:
    if not cv or cv.get("mean", {}).get(metric) is None:
        return "—"
    mean, sd = float(cv["mean"][metric]), cv.get("sd", {}).get(metric)
    return f"{mean:.4f} ± {float(sd):.4f}" if sd is not None else f"{mean:.4f}"  # _cell escapes it


def _gate_section(gate: dict[str, Any]) -> str:
    passed = bool(gate.get("passed"))
    badge = '<span class="badge pass">PASSED</span>' if passed else '<span class="badge fail">FAILED</span>'
    reasons = "".join(f"<li>{escape(r)}</li>" for r in gate.get("reasons", []))
    html = f"<p>{badge} {escape(gate.get('summary', ''))}</p>" + (f"<ul>{reasons}</ul>" if reasons else "")
    rows = [
        [c.get("gate"), c.get("attribute"), c.get("metric"), c.get("value"), c.get("bound"), c.get("passed"),
         c.get("note")]
        for c in gate.get("checks", [])
    ]  # fmt: skip
    return html + _table(["gate", "attribute", "metric", "value", "bound", "passed", "note"], rows)


def _lineage_section(lineage: dict[str, Any]) -> str:
    known = dict(_LINEAGE_ORDER)
    keys = [k for k, _ in _LINEAGE_ORDER if k in lineage] + [k for k in lineage if k not in known]
    rows = []
    for k in keys:
        value = lineage[k]
        shown = "<br>".join(_text(v) for v in value) if isinstance(value, list) else _text(value)
        rows.append(f"<tr><th>{escape(known.get(k, k))}</th><td><code>{shown}</code></td></tr>")
    return f"<table><tbody>{''.join(rows)}</tbody></table>" if rows else "<p>None recorded.</p>"


def _artifacts_section(artifacts: dict[str, Any], onnx: dict[str, Any]) -> str:
    rows = []
    for name, info in artifacts.items():
        info = info if isinstance(info, dict) else {"sha256": info}
        where = info.get("uri") or info.get("key")
        rows.append([name, info.get("sha256"), where, info.get("bytes")])
    html = _table(["artifact", "SHA-256", "location", "bytes"], rows)
    if onnx:
        html += "<h3>ONNX export</h3>" + _table(["property", "value"], [[k, v] for k, v in onnx.items()])
    return html


def render_html(card: dict[str, Any]) -> str:
    """A single readable HTML page (inline CSS, no external assets, every value escaped)."""
    card = _jsonable(card)
    gate = card.get("gate") or {}
    title = f"{card['model']} v{card['version']}"
    champion_rows = [[r["metric"], r["champion"], r["challenger"], r["delta"], r["better"]] for r in card["comparison"]]
    sections = [
        ("Metrics", _labels_section(card) + _metrics_section(card)),
        ("Missing values", _missing_section(card.get("missing", []))),
        ("Gate decision", _gate_section(gate)),
        ("Champion vs challenger", _table(["metric", "champion", "challenger", "delta", "better"], champion_rows)
         if champion_rows else "<p>No champion: this is the first version.</p>"),
        ("Fairness", _fairness_section(card.get("fairness", {}))),
        ("Top feature importances (permutation, test split)", _importances_section(card.get("importances", []))),
        ("Mean absolute contribution (per-row explanations, test split)",
         _contributions_section(card.get("explanations") or {})),
        ("Candidates", _leaderboard(card)),
        ("Lineage", _lineage_section(card.get("lineage", {}))),
        ("Artifacts", _artifacts_section(card.get("artifacts", {}), card.get("onnx", {}))),
    ]  # fmt: skip
    best = card.get("best", {})
    subtitle = (
        f"{escape(card['task'])} · selected on {escape(card['metric'])} · best candidate "
        f"#{_text(best.get('index'))} {_text(best.get('algorithm'))} ({escape(_params(best.get('params', {})))})"
    )
    body = "".join(f"<h2>{escape(h)}</h2>{content}" for h, content in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Model card: {escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>Model card: {escape(title)}</h1><p class="sub">{subtitle}</p>{body}</body></html>\n'
    )
