"""A model's experiments, found in its alias history: each split between production and a challenger (a challenger
set with a weight, until it is cleared or moved, or production moves), and what each variant served in it, read
from the lake's captures and feedback by the same reader as the drift check, as the statistics want it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway import layout
from slipway.domain.experiments import Analysis, VariantData, analyse, row_outcomes
from slipway.errors import NotFound
from slipway.ports import Deps
from slipway.spec.experiment import ExperimentSpec
from slipway.stores.captures import days_between, label, latest_feedback, served_table
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import spec_at

__all__ = [
    "Experiment",
    "analyse_experiment",
    "analyse_split",
    "experiments",
    "find_experiment",
    "summary",
    "variant_data",
]


@dataclass(frozen=True)
class Experiment:
    """One split: production ``champion`` against ``challenger`` at ``weight``, from ``start`` to ``end`` (None:
    running), as the alias history logged it."""

    model: str
    number: int
    champion: int
    challenger: int
    weight: float
    start: str
    end: str | None
    started_by: str
    reason: str

    @property
    def status(self) -> str:
        return "running" if self.end is None else "ended"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


def experiments(deps: Deps, model: str) -> list[Experiment]:
    """The model's experiments, oldest first, from its alias history (ALIASLOG# items)."""
    found: list[Experiment] = []
    production: int | None = None
    open_: dict[str, Any] | None = None  # the running split: challenger, weight, start, who, why

    def close(at: str | None) -> None:  # at: when the split ended (None: it is still running)
        nonlocal open_
        if open_ is not None and open_["champion"] is not None:
            found.append(
                Experiment(
                    model,
                    len(found) + 1,
                    open_["champion"],
                    open_["challenger"],
                    open_["weight"],
                    open_["start"],
                    at,
                    open_["by"],
                    open_["reason"],
                )
            )
        open_ = None

    for entry in ModelRegistry.of(deps).alias_log(model):
        alias, version, at = entry.get("alias"), entry.get("version"), str(entry.get("at"))
        if alias == "production" and version != production:
            running = open_
            close(at)
            production = None if version is None else int(version)
            if running is not None and running["challenger"] != production:  # a new split, against the new champion
                open_ = {**running, "champion": production, "start": at}
        elif alias == "challenger":
            close(at)
            if version is not None and entry.get("weight"):
                open_ = {
                    "champion": production,
                    "challenger": int(version),
                    "weight": float(entry["weight"]),
                    "start": at,
                    "by": str(entry.get("actor", "")),
                    "reason": str(entry.get("reason", "")),
                }
    close(None)
    return found


def find_experiment(deps: Deps, model: str, number: int | None = None) -> Experiment:
    """The model's experiment ``number`` (1 is the first), or its latest."""
    found = experiments(deps, model)
    if not found:
        raise NotFound(f"{model} has had no experiment (no challenger set with a weight)", {"model": model})
    if number is None:
        return found[-1]
    if not 1 <= number <= len(found):
        raise NotFound(f"{model} has no experiment {number} (it has {len(found)})", {"model": model})
    return found[number - 1]


def _payoff(spec: ExperimentSpec, labels: Sequence[Any] | None) -> np.ndarray | None:
    """``payoff[predicted code, true code]`` from the spec's ``{predicted: {actual: value}}`` (absent pairs: 0)."""
    if spec.payoff is None or not labels:
        return None
    keys = [str(label) for label in labels]
    return np.array([[float(spec.payoff.get(p, {}).get(a, 0.0)) for a in keys] for p in keys])


def _units(rows: pa.Table) -> int:
    """Distinct assignment keys: the entity id where the row had one (what routing hashes), else the request id."""
    if not rows.num_rows:
        return 0
    keys = pc.coalesce(
        pc.binary_join_element_wise("e:", rows["entity_id"], ""),
        pc.binary_join_element_wise("r:", rows["request_id"], ""),
    )
    return len(pc.unique(keys))


def variant_data(
    served: pa.Table,
    feedback: pa.Table | None,
    variant: str,
    version: int,
    labels: Sequence[Any] | None,
    metrics: Sequence[str],
    payoff: np.ndarray | None = None,
) -> VariantData:
    """What ``variant`` (at ``version``) served: its rows, requests, units and failed rows, and each labelled row's
    outcome for each of ``metrics``."""
    mine = served.filter(
        pc.fill_null(pc.and_(pc.equal(served["variant"], variant), pc.equal(served["version"], version)), False)
    )
    errors = int(pc.sum(pc.is_valid(mine["error"])).as_py() or 0) if mine.num_rows else 0
    requests = len(pc.unique(mine["request_id"])) if mine.num_rows else 0
    found = label(mine, feedback, labels)
    outcomes = {
        m: row_outcomes(m, found.truth, found.predicted, found.p_true, payoff)
        for m in metrics
        if m != "value" or payoff is not None
    }
    return VariantData(variant, version, mine.num_rows, requests, _units(mine), errors, outcomes)


def analyse_split(
    deps: Deps, model: str, champion: int, challenger: int, weight: float, start: str, end: str
) -> tuple[Analysis, dict[str, Any]]:
    """The statistics of ``challenger`` against production ``champion`` at ``weight`` over what they served in
    [start, end], by the challenger version's spec (``deployment.experiment``), and what they were judged on (the
    window, the task, the labels, the spec section)."""
    item = ModelRegistry.of(deps).get_version(model, challenger)
    spec = spec_at(deps, model, str(item["spec_version"])).deployment_or_default.experiment
    task = str(item["task"])
    labels: list[Any] | None = item.get("labels") if task == "classification" else None
    metric = spec.goal(task)
    metrics = list(dict.fromkeys([metric, *(g.metric for g in spec.guardrails if g.metric != "error_rate")]))
    served = served_table(deps, model, start, end, {}, labels)
    feedback = latest_feedback(
        deps, [layout.feedback_prefix(model, d) for d in days_between(start, deps.now_iso())], labels is None
    )
    payoff = _payoff(spec, labels)
    analysis = analyse(
        variant_data(served, feedback, "production", champion, labels, metrics, payoff),
        variant_data(served, feedback, "challenger", challenger, labels, metrics, payoff),
        weight,
        spec,
        metric,
    )
    context = {
        "window": {"start": start, "end": end},
        "task": task,
        "labels": labels,
        "spec": spec.model_dump(mode="json"),
    }
    return analysis, context


def analyse_experiment(deps: Deps, experiment: Experiment) -> tuple[Analysis, dict[str, Any]]:
    """An experiment's statistics (``analyse_split`` over its window: until now while it runs)."""
    e = experiment
    return analyse_split(deps, e.model, e.champion, e.challenger, e.weight, e.start, e.end or deps.now_iso())


def summary(experiment: Experiment, analysis: Analysis, context: Mapping[str, Any]) -> dict[str, Any]:
    """One JSON-able document: the experiment, its statistics and verdict (the CLI's ``--json``, the report's data)."""
    return {"experiment": experiment.to_dict(), **context, "analysis": analysis.to_dict()}
