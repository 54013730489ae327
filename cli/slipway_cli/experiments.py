"""`slipway experiments`: a model's A/B experiments (each challenger split of its alias history) and, for one, the
statistics and verdict — per variant the traffic and the outcome with its interval, the difference, the test, the
sample-ratio check, the guardrails, the minimum detectable effect and the samples still needed — in the terminal
or as a self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from slipway.domain.experiment_report import render_experiment_html
from slipway.domain.experiments import Analysis
from slipway.serving.routing import Routing
from slipway.stores.experiments import Experiment, analyse_experiment, experiments, find_experiment, summary
from slipway_cli.target import Target

__all__ = ["listing", "show"]

_STYLE = {"challenger better": "green", "champion better": "red", "stop: SRM": "red", "keep running": "yellow"}


def _salt(e: Experiment) -> str:
    """What routing hashes each key with during the experiment: its own, so concurrent ones assign independently."""
    return Routing(e.model, e.champion, e.challenger, e.weight).salt


def listing(target: Target, model: str) -> tuple[list[dict[str, Any]], Any]:
    """The model's experiments in this environment, newest first."""
    found = list(reversed(experiments(target.deps, model)))
    rows = [{**e.to_dict(), "salt": _salt(e)} for e in found]
    table = Table(title=f"experiments of {model} in {target.env} (newest first)")
    for column in ("#", "champion", "challenger", "split", "start", "end", "status", "started by", "reason"):
        table.add_column(column)
    for e in found:
        table.add_row(
            str(e.number),
            f"v{e.champion}",
            f"v{e.challenger}",
            f"{1 - e.weight:.0%} / {e.weight:.0%}",
            e.start[:19],
            (e.end or "—")[:19],
            e.status,
            e.started_by.rsplit("/", 1)[-1],
            e.reason,
        )
    return rows, table if rows else f"{model} in {target.env} has had no experiment (no challenger with a weight)"


def _num(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}g}" if sign else f"{value:.{digits}g}"


def _p(value: float | None) -> str:
    return "—" if value is None else ("< 1e-300" if value < 1e-300 else f"{value:.3g}")


def view(experiment: Experiment, analysis: Analysis, env: str) -> Any:
    """The terminal's view: the variants, the comparison, the checks, the verdict."""
    a, c = analysis.arms[0], analysis.arms[1]
    cmp, srm = analysis.comparison, analysis.srm
    level = f"{1 - analysis.alpha:.0%}"
    direction = "higher" if analysis.higher_is_better else "lower"
    head = Text.from_markup(
        f"[bold]{experiment.model}[/] experiment {experiment.number} in {env}: v{c.version} challenging "
        f"v{a.version} on {analysis.weight:.0%} of traffic, {experiment.start[:19]} → "
        f"{(experiment.end or 'now (running)')[:19]}\ngoal: {analysis.metric} ({direction} is better)"
    )
    arms = Table(title="variants")
    for column in (
        "variant",
        "version",
        "split",
        "units",
        "requests",
        "rows",
        "failed",
        "labelled",
        analysis.metric,
        f"{level} interval",
    ):
        arms.add_column(column, justify="left" if column in ("variant", f"{level} interval") else "right")
    for arm, share in ((a, 1 - analysis.weight), (c, analysis.weight)):
        arms.add_row(
            arm.variant,
            f"v{arm.version}",
            f"{share:.0%}",
            f"{arm.units:,}",
            f"{arm.requests:,}",
            f"{arm.rows:,}",
            f"{arm.errors:,}",
            f"{arm.labelled:,}",
            _num(arm.value),
            f"{_num(arm.low)} – {_num(arm.high)}",
        )
    tests = Table(title="challenger − champion")
    tests.add_column("what")
    tests.add_column("value")
    tests.add_row(
        "difference",
        f"{_num(cmp.difference, sign=True)} ({level} interval {_num(cmp.low, sign=True)} to "
        f"{_num(cmp.high, sign=True)})",
    )
    tests.add_row(cmp.test, f"p = {_p(cmp.p_value)}")
    tests.add_row(
        "always-valid (sequential) test",
        f"p = {_p(cmp.always_valid_p)} (interval "
        f"{_num(cmp.sequential_low, sign=True)} to {_num(cmp.sequential_high, sign=True)}): the verdict's",
    )
    tests.add_row(
        "sample ratio (χ²)",
        f"challenger {_num(srm.observed_share)} of units vs {srm.expected_share:g} set:"
        f" χ² {_num(srm.chi2)}, p = {_p(srm.p_value)}" + (" — MISMATCH" if srm.flagged else ""),
    )
    tests.add_row("detectable now", f"{_num(cmp.mde_now)} at {analysis.power:.0%} power, α {analysis.alpha:g}")
    if cmp.mde is not None and cmp.needed is not None:
        tests.add_row(
            f"planned effect {_num(cmp.mde)}",
            f"{cmp.needed:,} labelled rows in all; {cmp.still_needed or 0:,} still needed",
        )
    guard = Table(title="guardrails")
    for column in ("metric", "champion", "challenger", "worse by", "interval", "allowed", "breached"):
        guard.add_column(column)
    for g in analysis.guardrails:
        guard.add_row(
            g.metric,
            _num(g.champion),
            _num(g.challenger),
            _num(g.worsening, sign=True),
            f"{_num(g.low, sign=True)} to {_num(g.high, sign=True)}",
            f"{g.max_drop:g}",
            "[red]yes[/]" if g.breached else "no",
        )
    style = _STYLE.get(analysis.verdict, "white")
    verdict = Text.from_markup(f"verdict: [bold {style}]{analysis.verdict}[/]\n")
    verdict.append("\n".join(analysis.reasons))
    return Group(head, arms, tests, guard, verdict)


def show(target: Target, model: str, number: int | None = None, html: Path | None = None) -> tuple[dict[str, Any], Any]:
    """One experiment (the latest, or ``number``): its statistics and verdict; ``html``: also write the report."""
    experiment = find_experiment(target.deps, model, number)
    analysis, context = analyse_experiment(target.deps, experiment)
    value = summary(experiment, analysis, context)
    value["experiment"]["salt"] = _salt(experiment)
    value["env"] = target.env
    renderable = view(experiment, analysis, target.env)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_experiment_html(value), encoding="utf-8")
        value["html"] = str(html.resolve())
        renderable = Group(renderable, Text(f"report: {html.resolve()}"))
    return value, renderable
