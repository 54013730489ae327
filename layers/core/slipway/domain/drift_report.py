"""The drift check's page for people: one self-contained HTML file (inline CSS and SVG, no script, no external
resource), the summary first, then each feature's reference and current distributions side by side on the
reference's bins with the statistic, the threshold and the verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_drift_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:2rem auto;max-width:1040px;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{font-size:1rem;margin:1.4rem 0 .3rem}.sub{color:#59636e;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;color:#fff;font-weight:600;font-size:12px}
.drift{background:#cf222e}.no_drift{background:#1a7f37}.insufficient_data{background:#6e7781}
.pair{display:flex;gap:1.5rem;flex-wrap:wrap}.pair figure{margin:0}figcaption{color:#59636e;font-size:12px}
svg.chart{background:#fff;border:1px solid #d0d7de}
"""
_W, _H, _PAD = 420, 180, 26
_VERDICT = {"drift": "drift", "no_drift": "no drift", "insufficient_data": "insufficient data"}


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def _badge(verdict: str) -> str:
    return f'<span class="badge {escape(verdict)}">{escape(_VERDICT.get(verdict, verdict))}</span>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _bin_labels(feature: Mapping[str, Any]) -> list[str]:
    bins = list(feature.get("bins", []))
    if feature.get("kind") == "numeric":
        return [f"{_num(bins[i], 3)}–{_num(bins[i + 1], 3)}" for i in range(len(bins) - 1)]
    return [str(b) for b in bins]


def _bars(title: str, shares: Sequence[float], labels: Sequence[str], top: float, colour: str) -> str:
    """One bar chart (inline SVG): a bar per bin, heights on a scale shared with its neighbour."""
    n = max(len(shares), 1)
    width = (_W - 2 * _PAD) / n
    scale = (_H - 2 * _PAD) / top if top > 0 else 0.0
    bars = []
    for i, share in enumerate(shares):
        height = share * scale
        x, y = _PAD + i * width, _H - _PAD - height
        label = escape(labels[i]) if i < len(labels) else str(i)
        bars.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{y:.1f}" width="{max(width - 2, 1):.1f}" height="{height:.1f}" '
            f'fill="{colour}"><title>{label}: {share:.1%}</title></rect>'
        )
    axis = f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#59636e"/>'
    axis += "".join(_tick(_PAD + (i + 0.5) * width, label) for i, label in _ticks(labels))
    heading = f'<text x="{_PAD}" y="16" font-size="12" fill="#1f2328">{escape(title)} (max {top:.0%})</text>'
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">{heading}{axis}{"".join(bars)}</svg>'
    )


def _threshold(feature: Mapping[str, Any]) -> str:
    """A distance's threshold, or the level a test's corrected p-value must stay above."""
    if feature.get("test") in ("ks", "chi2"):
        return f"p &lt; {_num(feature.get('threshold'))}"
    return f"≥ {_num(feature.get('threshold'))}"


def _ticks(labels: Sequence[str]) -> list[tuple[int, str]]:
    """Which bins get a label under the axis: every one when few, else the first, middle and last."""
    if len(labels) <= 6:
        return list(enumerate(labels))
    chosen = sorted({0, len(labels) // 2, len(labels) - 1})
    return [(i, labels[i]) for i in chosen]


def _tick(x: float, label: str) -> str:
    text = label if len(label) <= 14 else label[:13] + "…"
    return (
        f'<text x="{x:.1f}" y="{_H - _PAD + 14}" font-size="10" text-anchor="middle" fill="#59636e">'
        f"{escape(text)}</text>"
    )


def _feature_section(feature: Mapping[str, Any], reference_label: str) -> str:
    reference, current = list(feature.get("reference", [])), list(feature.get("current", []))
    top = max([*reference, *current, 0.0])
    labels = _bin_labels(feature)
    charts = (
        f'<div class="pair"><figure>{_bars("reference", reference, labels, top, "#8c959f")}'
        f"<figcaption>{escape(reference_label)}: {_num(feature.get('reference_count'))} values</figcaption></figure>"
        f"<figure>{_bars('current', current, labels, top, '#0969da')}"
        f"<figcaption>current window: {_num(feature.get('count'))} values</figcaption></figure></div>"
    )
    measures = [
        ("test", escape(str(feature.get("test")))),
        ("statistic", _num(feature.get("statistic"))),
        ("drift when", _threshold(feature)),
        ("p-value (corrected)", f"{_num(feature.get('p_value'))} ({_num(feature.get('p_adjusted'))})"),
        ("PSI", _num(feature.get("psi"))),
    ]
    if feature.get("kind") == "numeric":
        measures += [
            ("KS on deciles", _num(feature.get("ks"))),
            ("mean shift / sd", _num(feature.get("mean_shift_sd"))),
        ]
    else:
        measures += [("Jensen–Shannon", _num(feature.get("js"))), ("unseen share", _num(feature.get("unseen_share")))]
    measures.append(
        ("missing", f"{_num(feature.get('null_share'))} (reference {_num(feature.get('reference_null_share'))})")
    )
    details = _table([m[0] for m in measures], [[m[1] for m in measures]])
    name = escape(str(feature["name"]))
    heading = f"<h3>{name} {_badge(str(feature['verdict']))}</h3>"
    return f'<section class="feature" id="f-{name}">{heading}{charts}{details}</section>'


def render_drift_html(result: Mapping[str, Any]) -> str:
    """The page for one check's result (as ``steps.compute_drift`` stores it); every value escaped."""
    model, version = escape(str(result["model"])), escape(str(result.get("version")))
    window = result.get("window", {})
    dataset = result.get("dataset", {})
    features = list(result.get("features", []))
    summary_rows = [
        ["overall", _badge("drift" if result.get("drifted") else "no_drift"), escape(str(result.get("reason", "")))],
        [
            "dataset",
            _badge(str(dataset.get("verdict"))),
            f"{len(dataset.get('drifted', []))} of {dataset.get('judged', 0)} judged features drifted "
            f"(share {_num(dataset.get('share'))}, threshold {_num(dataset.get('threshold'))}); "
            f"{len(dataset.get('insufficient', []))} with too little data",
        ],
    ]
    prediction = result.get("prediction")
    if prediction:
        summary_rows.append(
            [
                "prediction",
                _badge(str(prediction["verdict"])),
                f"scores vs the test split: {escape(str(prediction['test']))} {_num(prediction.get('statistic'))} "
                f"(threshold {_num(prediction.get('threshold'))}) on {_num(prediction.get('count'))} scores",
            ]
        )
    performance = result.get("performance")
    if performance:
        summary_rows.append(["performance", _badge(str(performance["verdict"])), escape(str(performance["message"]))])
    summary = _table(["check", "verdict", "what"], summary_rows)
    overview = _table(
        ["feature", "kind", "test", "statistic", "p (corrected)", "threshold", "rows", "verdict"],
        [
            [
                f'<a href="#f-{escape(str(f["name"]))}">{escape(str(f["name"]))}</a>',
                escape(str(f["kind"])),
                escape(str(f["test"])),
                _num(f.get("statistic")),
                _num(f.get("p_adjusted")),
                _threshold(f),
                _num(f.get("count")),
                _badge(str(f["verdict"])),
            ]
            for f in features
        ],
    )
    reference_label = f"training data (dataset {str(result.get('dataset_version', ''))[:12]}…)"
    drifted_first = sorted(features, key=lambda f: f["verdict"] != "drift")  # stable: the spec's order otherwise
    sections = "".join(_feature_section(f, reference_label) for f in drifted_first)
    if prediction:
        sections += _feature_section({**prediction, "name": "prediction score"}, "test-split scores")
    subtitle = (
        f"{escape(str(result.get('env', '')))} · version {version} · window {escape(str(window.get('start')))} → "
        f"{escape(str(window.get('end')))} · {_num(result.get('rows'))} captured rows, "
        f"{_num(result.get('labelled'))} with feedback · check {escape(str(result.get('check_id')))}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Drift: {model} v{version}</title><style>{_CSS}</style></head><body>"
        f'<h1>Drift: {model} v{version}</h1><p class="sub">{subtitle}</p>'
        f"<h2>Summary</h2>{summary}<h2>Features</h2>{overview}<h2>Distributions</h2>{sections}</body></html>\n"
    )
