"""What a spec means, as `spec check` and `spec push` show it: the task and labels, the candidates, and how
each model input's missing values are filled (the defaults included, so nothing is filled silently)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from slipway.spec import ModelSpec
from slipway.spec.features import input_columns, resolve_missing
from slipway.spec.missing import KIND_OF_TYPE, describe_fill


def summary(spec: ModelSpec) -> tuple[dict[str, Any], list[str]]:
    """(JSON-able summary, lines of text) of a loaded spec."""
    value: dict[str, Any] = {"target": spec.data.target, "columns": len(spec.data.columns)}
    lines = [f"  target {escape(spec.data.target)} · {len(spec.data.columns)} columns"]
    if spec.training is not None:
        labels = spec.data.known_labels() if spec.training.task == "classification" else None
        value.update(
            task=spec.training.task,
            metric=spec.training.metric,
            labels=labels,
            positive_label=spec.training.positive_label,
            candidates=spec.training.total_candidates,
        )
        told = "" if spec.training.task != "classification" else (
            f" · labels {escape(str(labels))}" if labels is not None else " · labels read from the data"
        )  # fmt: skip
        positive = spec.training.positive_label
        told += f" (positive {escape(repr(positive))})" if positive is not None else ""
        lines.append(
            f"  {spec.training.task}{told} · selected on {spec.training.metric} · "
            f"{spec.training.total_candidates} candidates"
        )
    if spec.features is not None:
        defaults = spec.features.missing
        fills = resolve_missing(spec.features, spec.data)
        value["missing"] = [
            {"column": c.name, "kind": KIND_OF_TYPE[c.type], "fill": describe_fill(fills[c.name])}
            for c in input_columns(spec.data, spec.features)
        ]
        chosen = defaults.model_fields_set  # the kinds whose fill the spec names; the others keep slipway's default
        kinds = " · ".join(
            f"{k} {describe_fill(defaults.default_for(k))} ({'spec' if k in chosen else 'default'})"
            for k in ("numeric", "categorical", "timestamp")
        )
        lines.append(f"  missing values: {escape(kinds)}")
        own = [
            f"{m['column']} {m['fill']}"
            for m in value["missing"]
            if fills[m["column"]] != defaults.default_for(m["kind"])
        ]
        if own:
            lines.append(f"  missing values otherwise: {escape(', '.join(own))}")
    return value, lines
