"""The spec's features as one unfitted scikit-learn ColumnTransformer: per column, its missing-value fill, then
its transforms in declaration order, then the default encoding; and the fills it learnt, for the model card."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

from slipway.domain.model_input import FeatureInput, InputKind, iso_days
from slipway.domain.timestamps import EPOCH
from slipway.domain.transforms import Clip, DateParts, FillMissing, Log1p, OneHotTop, Ratio, Standardize
from slipway.spec.features import FeaturesSpec, Transform
from slipway.spec.features import Ratio as RatioSpec
from slipway.spec.missing import Constant, Missing, describe_fill

__all__ = ["build_preprocessor", "learnt_fills"]

_DEFAULT_DATE_PARTS = ("year", "month", "dayofweek")


def _step(transform: Transform) -> Any:
    if transform.kind == "standardize":
        return Standardize()
    if transform.kind == "log":
        return Log1p()
    if transform.kind == "clip":
        return Clip(min=transform.min, max=transform.max)
    if transform.kind == "bucketize":
        return KBinsDiscretizer(
            n_bins=transform.bins,
            encode="onehot-dense",
            strategy="quantile",
            quantile_method="averaged_inverted_cdf",
            subsample=None,
        )
    if transform.kind == "one_hot":
        return OneHotTop(max_categories=transform.max_categories)
    if transform.kind == "date_parts":
        return DateParts(parts=tuple(transform.parts))
    raise ValueError(f"no step for transform {transform.kind!r}")


def _fill(kind: InputKind, fill: Missing) -> Any | None:
    """The fitted-on-train step that fills a column's missing values; None when they are refused."""
    if fill == "refuse":
        return None
    strategy, value = ("constant", fill.constant) if isinstance(fill, Constant) else (fill, None)
    if kind == "numeric":
        return SimpleImputer(strategy=strategy, fill_value=value, keep_empty_features=True)
    if kind == "timestamp" and value is not None:
        value = iso_days(str(value))
    return FillMissing(strategy=strategy, fill_value=value)


def _encoding(kind: InputKind) -> Any | None:
    """What a column becomes when no transform names it (numbers pass through)."""
    if kind == "categorical":
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if kind == "timestamp":
        return DateParts(parts=_DEFAULT_DATE_PARTS)
    return None


def _chains(inputs: list[FeatureInput], features: FeaturesSpec) -> dict[str, list[Transform]]:
    kinds = {i.name: i.kind for i in inputs}
    chains: dict[str, list[Transform]] = {i.name: [] for i in inputs}
    for transform in features.transforms:
        for name in transform.columns:
            if name not in kinds:
                raise ValueError(f"transform {transform.kind}: column {name!r} is not a feature input")
            if isinstance(transform, RatioSpec):
                if kinds[name] != "numeric":
                    raise ValueError(f"ratio {transform.name!r}: column {name!r} is not numeric")
                continue
            chains[name].append(transform)
    return chains


def _pipeline(steps: list[tuple[str, Any]]) -> Any:
    if not steps:
        return "passthrough"
    return steps[0][1] if len(steps) == 1 else Pipeline(steps)


def build_preprocessor(
    inputs: list[FeatureInput], features: FeaturesSpec, fills: dict[str, Missing] | None = None
) -> ColumnTransformer:
    """An unfitted ColumnTransformer: each column's fill (``fills``, by default its kind's from
    ``features.missing``) named ``impute``, then its spec transforms in declaration order, else its default
    encoding (categorical → one-hot, timestamp → year/month/weekday). Columns with the same treatment share
    one transformer; ratios come last, their two inputs filled by the ratio's ``missing`` (by default
    ``features.missing.numeric``)."""
    fills = fills or {}
    chains = _chains(inputs, features)
    groups: dict[str, tuple[list[str], Any]] = {}
    for feature in inputs:
        chain = chains[feature.name]
        fill = fills.get(feature.name, features.missing.default_for(feature.kind))
        described = describe_fill(fill)
        key = json.dumps([feature.kind, described, [t.model_dump(mode="json", exclude={"columns"}) for t in chain]])
        if key not in groups:
            steps = [(f"{t.kind}", _step(t)) for t in chain]
            if not chain and (encoding := _encoding(feature.kind)) is not None:
                steps = [("encode", encoding)]
            if (filler := _fill(feature.kind, fill)) is not None:
                steps.insert(0, ("impute", filler))
            groups[key] = ([], _pipeline(steps))
        groups[key][0].append(feature.name)
    transformers = [(f"t{n}", est, cols) for n, (cols, est) in enumerate(groups.values())]
    for transform in features.transforms:
        if isinstance(transform, RatioSpec):
            filler = _fill("numeric", transform.missing or features.missing.numeric)
            ratio = Ratio(name=transform.name)
            pipeline = ratio if filler is None else Pipeline([("impute", filler), ("ratio", ratio)])
            transformers.append((f"t{len(transformers)}", pipeline, transform.columns))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)


def _display(kind: InputKind, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "timestamp" and isinstance(value, int):
        return (EPOCH + timedelta(days=value)).date().isoformat()
    return value


def learnt_fills(
    preprocessor: ColumnTransformer, inputs: list[FeatureInput], fills: dict[str, Missing]
) -> list[dict[str, Any]]:
    """Per input column: its fill as the spec states it and the value learnt on the training split
    (None when missing values are refused), as the manifest and the model card record them."""
    learnt: dict[str, Any] = {}
    for _, est, columns in preprocessor.transformers_:
        step = est.named_steps.get("impute") if isinstance(est, Pipeline) else est
        stats = getattr(step, "statistics_", None)
        if isinstance(step, (SimpleImputer, FillMissing)) and stats is not None:
            for name, value in zip(columns, stats, strict=True):
                learnt.setdefault(name, value)
    out = []
    for feature in inputs:
        fill = fills[feature.name]
        value = learnt.get(feature.name)
        out.append(
            {
                "column": feature.name,
                "kind": feature.kind,
                "fill": describe_fill(fill),
                "value": None if fill == "refuse" or value is None else _display(feature.kind, value),
            }
        )
    return out
