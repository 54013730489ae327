"""An experiment's page for people: one self-contained HTML file (inline CSS and SVG, no script, no external
resource) — the verdict and why first, then each variant's traffic and outcome with its interval drawn, the
difference with its fixed-sample and always-valid intervals against zero, the sample-ratio check, the sample size,
and the guardrails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_experiment_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:2rem auto;max-width:1040px;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.sub{color:#59636e;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.15rem .7rem;border-radius:1rem;color:#fff;font-weight:600;font-size:13px}
.better{background:#1a7f37}.worse{background:#cf222e}.srm{background:#cf222e}.running{background:#9a6700}
svg.chart{background:#fff;border:1px solid #d0d7de}ul.reasons{margin:.4rem 0}
"""
_BADGE = {"challenger better": "better", "champion better": "worse", "stop: SRM": "srm", "keep running": "running"}
_W, _ROW, _LEFT, _PAD = 640, 34, 150, 24


def _num(value: Any, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:+.{digits}g}" if sign else f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _p(value: Any) -> str:
    if value is None:
        return "—"
    return "&lt; 1e-300" if value < 1e-300 else f"{value:.3g}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _intervals(
    title: str, rows: Sequence[tuple[str, float | None, float | None, float | None, str]], zero: bool
) -> str:
    """A forest plot (inline SVG): per row a point and its interval on one shared axis (with a line at 0)."""
    values = [v for _, p, lo, hi, _ in rows for v in (p, lo, hi) if v is not None] + ([0.0] if zero else [])
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    low, high = low - 0.08 * span, high + 0.08 * span
    height = _PAD * 2 + _ROW * len(rows)

    def x(v: float) -> float:
        return _LEFT + (v - low) / (high - low) * (_W - _LEFT - _PAD)

    parts = [f'<text x="8" y="16" font-size="12" fill="#1f2328">{escape(title)}</text>']
    if zero:
        parts.append(
            f'<text x="{x(0):.1f}" y="{height - _PAD + 14}" font-size="10" text-anchor="middle" fill="#59636e">0</text>'
        )
        parts.append(
            f'<line x1="{x(0):.1f}" y1="{_PAD}" x2="{x(0):.1f}" y2="{height - _PAD}" stroke="#8c959f" '
            'stroke-dasharray="4 3"/>'
        )
    for i, (label, point, lo, hi, colour) in enumerate(rows):
        y = _PAD + _ROW * i + _ROW / 2
        parts.append(f'<text x="8" y="{y + 4:.1f}" font-size="12" fill="#1f2328">{escape(label)}</text>')
        if lo is not None and hi is not None:
            parts.append(
                f'<line x1="{x(lo):.1f}" y1="{y:.1f}" x2="{x(hi):.1f}" y2="{y:.1f}" stroke="{colour}" '
                'stroke-width="3"><title>' + f"{lo:.4g} to {hi:.4g}</title></line>"
            )
        if point is not None:
            parts.append(
                f'<circle cx="{x(point):.1f}" cy="{y:.1f}" r="5" fill="{colour}"><title>{point:.4g}</title></circle>'
            )
    axis_y = height - _PAD + 4
    parts.append(f'<text x="{_LEFT}" y="{axis_y + 10}" font-size="10" fill="#59636e">{low:.4g}</text>')
    parts.append(
        f'<text x="{_W - _PAD}" y="{axis_y + 10}" font-size="10" text-anchor="end" fill="#59636e">{high:.4g}</text>'
    )
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height + 12}" '
        f'viewBox="0 0 {_W} {height + 12}" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )


def render_experiment_html(result: Mapping[str, Any]) -> str:
    """The page for one experiment's summary (as ``stores.experiments.summary`` gives it); every value escaped."""
    e, a = result["experiment"], result["analysis"]
    model = escape(str(e["model"]))
    champion, challenger = a["arms"]
    c, srm = a["comparison"], a["srm"]
    level = f"{1 - a['alpha']:.0%}"
    verdict = str(a["verdict"])
    badge = f'<span class="badge {_BADGE.get(verdict, "running")}">{escape(verdict)}</span>'
    reasons = "".join(f"<li>{escape(str(r))}</li>" for r in a["reasons"])
    metric = escape(str(a["metric"]))
    better = "higher" if a["higher_is_better"] else "lower"
    subtitle = (
        f"{escape(str(result.get('env', '')))} · v{challenger['version']} challenging v{champion['version']} on "
        f"{a['weight']:.0%} of traffic · {escape(str(e['start']))} → {escape(str(e.get('end') or 'now (running)'))} · "
        f"started by {escape(str(e.get('started_by', '')))} ({escape(str(e.get('reason', '')))}) · salt "
        f"<code>{escape(str(e.get('salt', '')))}</code>"
    )
    arms = _table(
        [
            "variant",
            "version",
            "configured split",
            "units",
            "requests",
            "rows",
            "failed",
            "labelled",
            metric,
            f"{level} interval",
        ],
        [
            [
                escape(str(r["variant"])),
                f"v{r['version']}",
                f"{share:.0%}",
                _num(r["units"]),
                _num(r["requests"]),
                _num(r["rows"]),
                _num(r["errors"]),
                _num(r["labelled"]),
                _num(r["value"]),
                f"{_num(r['low'])} – {_num(r['high'])}",
            ]
            for r, share in ((champion, 1 - a["weight"]), (challenger, a["weight"]))
        ],
        numeric=frozenset({3, 4, 5, 6, 7, 8}),
    )
    arm_chart = _intervals(
        f"{a['metric']} per variant ({level} intervals)",
        [
            ("champion v" + str(champion["version"]), champion["value"], champion["low"], champion["high"], "#8c959f"),
            (
                "challenger v" + str(challenger["version"]),
                challenger["value"],
                challenger["low"],
                challenger["high"],
                "#0969da",
            ),
        ],
        zero=False,
    )
    diff_chart = _intervals(
        "challenger − champion",
        [
            (f"{c['test']}", c["difference"], c["low"], c["high"], "#0969da"),
            ("always-valid", c["difference"], c["sequential_low"], c["sequential_high"], "#8250df"),
        ],
        zero=True,
    )
    comparison = _table(
        ["measure", "value"],
        [
            [
                "difference",
                f"{_num(c['difference'], sign=True)} ({level} interval {_num(c['low'], sign=True)} to "
                f"{_num(c['high'], sign=True)})",
            ],
            [f"{escape(str(c['test']))} p-value", _p(c["p_value"])],
            [
                "always-valid p-value (mixture SPRT; the verdict's)",
                f"{_p(c['always_valid_p'])} (interval {_num(c['sequential_low'], sign=True)} to "
                f"{_num(c['sequential_high'], sign=True)})",
            ],
            ["minimum detectable effect now", f"{_num(c['mde_now'])} ({a['power']:.0%} power, α {a['alpha']:g})"],
            ["planned effect (MDE)", _num(c["mde"])],
            ["labelled rows needed for it", f"{_num(c['needed'])} in all, {_num(c['still_needed'])} still needed"],
        ],
    )
    srm_table = _table(
        ["champion units", "challenger units", "configured share", "observed share", "χ²", "p-value", "mismatch"],
        [
            [
                _num(srm["champion"]),
                _num(srm["challenger"]),
                _num(srm["expected_share"]),
                _num(srm["observed_share"]),
                _num(srm["chi2"]),
                _p(srm["p_value"]),
                "yes (p &lt; 0.001)" if srm["flagged"] else "no",
            ]
        ],
    )
    guardrails = _table(
        ["metric", "champion", "challenger", "worse by", "always-valid interval", "allowed", "breached"],
        [
            [
                escape(str(g["metric"])),
                _num(g["champion"]),
                _num(g["challenger"]),
                _num(g["worsening"], sign=True),
                f"{_num(g['low'], sign=True)} to {_num(g['high'], sign=True)}",
                _num(g["max_drop"]),
                "yes" if g["breached"] else "no",
            ]
            for g in a["guardrails"]
        ],
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Experiment {e['number']}: {model}</title><style>{_CSS}</style></head><body>"
        f'<h1>Experiment {e["number"]}: {model}</h1><p class="sub">{subtitle}</p>'
        f"<h2>Verdict</h2><p>{badge} on the goal <b>{metric}</b> ({better} is better)</p>"
        f'<ul class="reasons">{reasons}</ul>'
        f"<h2>Variants</h2>{arms}{arm_chart}"
        f"<h2>Difference</h2>{diff_chart}{comparison}"
        f"<h2>Sample ratio</h2><p>The units (distinct entity ids, else request ids: what routing hashes) each variant "
        f"got, against the configured split (χ² test).</p>{srm_table}"
        f"<h2>Guardrails</h2>{guardrails}</body></html>\n"
    )
