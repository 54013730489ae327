"""The explainer of a fitted pipeline (``slipway.domain.explanations``), built at registration from the estimator
the ONNX model was converted from, and kept only if, on the test split, its base value plus contributions gives
back the ONNX model's own output for every row (as the served model computes it, from the ONNX graph's
``features`` tensor)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from slipway.domain.explanations import Explainer, Explanation, NotExplainable, Units, _Leaves

if TYPE_CHECKING:
    import pandas as pd

    from slipway.domain.model_input import FeatureInput

__all__ = [
    "EXPLAIN_ROWS",
    "EXPLAIN_TOLERANCE",
    "checked_explainer",
    "column_owners",
    "explainer_of",
    "mean_abs_contribution",
    "onnx_outputs",
]

EXPLAIN_TOLERANCE = 1e-5  # as ONNX parity: base + contributions against the ONNX model's output
# Test rows the check and the mean |contribution| read: the check holds row by row, and a mean over 1,000 rows is
# within a few % of the whole split's; all of a 10,000-row split made a 1,000-round LightGBM's registration ~40 s.
EXPLAIN_ROWS = 1_000


# ------------------------------------------------------------------ which raw feature each model column comes from
def _widths(step: Any, count: int) -> list[int]:
    """How many output columns each of a column-wise step's ``count`` input columns becomes."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

    from slipway.domain.transforms import Clip, DateParts, FillMissing, Log1p, OneHotTop, Standardize

    if isinstance(step, (SimpleImputer, FillMissing, Standardize, Log1p, Clip)):
        return [1] * count
    if isinstance(step, OneHotEncoder) and step.drop is None:
        return [len(c) for c in step.categories_]
    if isinstance(step, OneHotTop):
        return [len(c) + int(i) for c, i in zip(step.categories_, step.infrequent_, strict=True)]
    if isinstance(step, KBinsDiscretizer):
        return [int(b) for b in step.n_bins_] if step.encode == "onehot-dense" else [1] * count
    if isinstance(step, DateParts):
        return [len(step.parts)] * count
    raise NotExplainable(f"no map from {type(step).__name__}'s output columns back to its inputs")


def column_owners(preprocessor: Any) -> list[str]:
    """The raw feature (or ratio name) of each column of the fitted ColumnTransformer's output, in order."""
    from sklearn.pipeline import Pipeline

    from slipway.domain.transforms import Ratio

    owners: list[str] = []
    for name, transformer, columns in preprocessor.transformers_:
        if transformer == "drop" or name == "remainder":
            continue
        current = [str(c) for c in columns]
        steps = (
            []
            if transformer == "passthrough"
            else transformer.steps
            if isinstance(transformer, Pipeline)
            else [("", transformer)]
        )
        for _, step in steps:
            if isinstance(step, Ratio):
                current = [str(step.name)]
                continue
            widths = _widths(step, len(current))
            current = [owner for owner, width in zip(current, widths, strict=True) for _ in range(width)]
        owners.extend(current)
    return owners


# ------------------------------------------------------------------ trees
class _Tree:
    """One tree as arrays: children (-1 at leaves), split feature and threshold (x <= t goes left), where NaN
    goes, each node's training cover, and each node's value per output ``(nodes, K)``."""

    def __init__(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        nan_left: np.ndarray,
        cover: np.ndarray,
        value: np.ndarray,
    ) -> None:
        self.left, self.right, self.feature, self.threshold = left, right, feature, threshold
        self.nan_left, self.cover, self.value = nan_left, cover, value

    def paths(self) -> list[tuple[int, dict[int, list[float]]]]:
        """Each leaf with its path: per distinct feature [lower, upper, nan_follows, cover fraction]."""
        out: list[tuple[int, dict[int, list[float]]]] = []
        stack: list[tuple[int, dict[int, list[float]]]] = [(0, {})]
        while stack:
            node, path = stack.pop()
            if self.left[node] < 0:
                out.append((node, path))
                continue
            f, t = int(self.feature[node]), float(self.threshold[node])
            for child, goes_left in ((int(self.left[node]), True), (int(self.right[node]), False)):
                lower, upper, nan_follows, zero = path.get(f, [-np.inf, np.inf, 1.0, 1.0])
                if goes_left:
                    upper = min(upper, t)
                else:
                    lower = max(lower, t)
                follows = float(nan_follows and bool(self.nan_left[node]) == goes_left)
                fraction = float(self.cover[child]) / float(self.cover[node]) if self.cover[node] > 0 else 0.0
                stack.append((child, {**path, f: [lower, upper, follows, zero * fraction]}))
        return out

    def output_of(self, row: np.ndarray) -> np.ndarray:
        """The values of the leaf ``row`` falls in (a float64 row of the model input)."""
        node = 0
        while self.left[node] >= 0:
            x = row[self.feature[node]]
            goes_left = bool(self.nan_left[node]) if np.isnan(x) else x <= self.threshold[node]
            node = int(self.left[node] if goes_left else self.right[node])
        return np.asarray(self.value[node], dtype=np.float64)


def _sklearn_tree(tree: Any, value: np.ndarray) -> _Tree:
    """``tree``: a fitted scikit-learn ``Tree``; ``value``: its node values as the ensemble adds them up."""
    t = tree.tree_
    missing_left = getattr(t, "missing_go_to_left", None)
    nan_left = np.asarray(missing_left, dtype=bool) if missing_left is not None else np.zeros(t.node_count, bool)
    cover = np.asarray(t.weighted_n_node_samples, dtype=np.float64)
    return _Tree(t.children_left, t.children_right, t.feature, t.threshold, nan_left, cover, value)


def _lightgbm_trees(estimator: Any, outputs: int) -> list[_Tree]:
    """The trees LightGBM predicts with (up to the early-stopped round), from its JSON dump; tree i adds to
    output ``i % outputs``."""
    booster = estimator.booster_
    rounds = getattr(estimator, "best_iteration_", None) or None
    dump = booster.dump_model(num_iteration=rounds)
    trees = []
    for info in dump["tree_info"]:
        nodes: list[dict[str, Any]] = []
        _preorder(info["tree_structure"], nodes)
        n = len(nodes)
        left, right = np.full(n, -1), np.full(n, -1)
        feature, threshold = np.zeros(n, dtype=np.int64), np.zeros(n)
        nan_left, cover, value = np.zeros(n, bool), np.zeros(n), np.zeros((n, outputs))
        for at, node in enumerate(nodes):
            if "_children" in node:
                if node.get("decision_type") != "<=":
                    raise NotExplainable(f"LightGBM split {node.get('decision_type')!r} (only numerical '<=')")
                if node.get("missing_type") == "Zero":
                    raise NotExplainable("LightGBM's zero_as_missing splits are not explained")
                left[at], right[at] = node["_children"]
                feature[at], threshold[at] = int(node["split_feature"]), float(node["threshold"])
                # missing_type NaN: NaN goes the default way; None: NaN is read as 0
                nan_left[at] = bool(node["default_left"]) if node.get("missing_type") == "NaN" else 0.0 <= threshold[at]
                cover[at] = float(node["internal_count"])
            else:
                cover[at] = float(node.get("leaf_count", 0))
                value[at, int(info["tree_index"]) % outputs] = float(node["leaf_value"])
        trees.append(_Tree(left, right, feature, threshold, nan_left, cover, value))
    return trees


def _xgboost_trees(estimator: Any, outputs: int) -> list[_Tree]:
    """The trees XGBoost predicts with (up to the early-stopped round, as its ``predict`` does), from its JSON
    model. XGBoost sends x left when ``x < t`` for a float32 t; for the float32 features that is ``x <= t'`` with t'
    the float32 value just below t, the form the explainer compares in."""
    import json

    booster = estimator.get_booster()
    learner = json.loads(bytes(booster.save_raw("json")))["learner"]
    if learner["gradient_booster"]["name"] != "gbtree":
        raise NotExplainable(f"XGBoost's {learner['gradient_booster']['name']} booster (only gbtree)")
    model = learner["gradient_booster"]["model"]
    best = getattr(estimator, "best_iteration", None)  # AttributeError (None) unless it stopped early
    count = int(model["iteration_indptr"][best + 1]) if best is not None else len(model["trees"])
    trees = []
    for tree, output in zip(model["trees"][:count], model["tree_info"][:count], strict=True):
        if any(kind != 0 for kind in tree.get("split_type", [])):
            raise NotExplainable("XGBoost's categorical splits are not explained")
        left, right = np.asarray(tree["left_children"]), np.asarray(tree["right_children"])
        leaf = left < 0
        conditions = np.asarray(tree["split_conditions"], dtype=np.float32)
        below = np.nextafter(conditions, np.float32(-np.inf)).astype(np.float64)
        value = np.zeros((len(left), outputs))
        value[leaf, int(output) % outputs] = conditions[leaf].astype(np.float64)
        trees.append(
            _Tree(
                left,
                right,
                np.asarray(tree["split_indices"], dtype=np.int64),
                np.where(leaf, 0.0, below),
                np.asarray(tree["default_left"], dtype=bool),
                np.asarray(tree["sum_hessian"], dtype=np.float64),
                value,
            )
        )
    return trees


def _hist_gradient_boosting_trees(estimator: Any, outputs: int) -> list[_Tree]:
    """HistGradientBoosting's trees (their leaf values already shrunk by the learning rate); tree k of a round
    adds to output k. Cover: the training rows that reached each node."""
    trees = []
    for round_trees in estimator._predictors:
        for k, predictor in enumerate(round_trees):
            nodes = predictor.nodes
            if np.any(nodes["is_categorical"]):
                raise NotExplainable("HistGradientBoosting's categorical splits are not explained")
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), outputs))
            value[leaf, k] = nodes["value"][leaf]
            trees.append(
                _Tree(
                    np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    nodes["feature_idx"].astype(np.int64),
                    nodes["num_threshold"].astype(np.float64),
                    nodes["missing_go_to_left"].astype(bool),
                    nodes["count"].astype(np.float64),
                    value,
                )
            )
    return trees


def _offset(trees: Sequence[_Tree], row: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """A boosted model's constant term (base score, initial estimate): its raw output for one row less what the
    trees add to it."""
    added = np.sum([tree.output_of(row) for tree in trees], axis=0)
    return np.asarray(np.asarray(raw, dtype=np.float64).reshape(-1) - added, dtype=np.float64)


def _preorder(node: dict[str, Any], nodes: list[dict[str, Any]]) -> int:
    """Number a LightGBM dump's nodes in preorder into ``nodes``; an internal node gets ``_children``."""
    at = len(nodes)
    nodes.append(node)
    if "split_feature" in node:
        node["_children"] = (_preorder(node["left_child"], nodes), _preorder(node["right_child"], nodes))
    return at


def _tree_explainer(
    trees: Sequence[_Tree], offset: np.ndarray, units: Units, groups: list[str], owner: np.ndarray
) -> Explainer:
    by_length: dict[int, list[tuple[dict[int, list[float]], np.ndarray]]] = {}
    base = np.asarray(offset, dtype=np.float64).copy()
    for tree in trees:
        for leaf, path in tree.paths():
            value = tree.value[leaf]
            base += value * float(np.prod([p[3] for p in path.values()]))
            if path:
                by_length.setdefault(len(path), []).append((path, value))
    leaves = []
    for d in sorted(by_length):
        found = by_length[d]
        slots = [sorted(path.items()) for path, _ in found]
        table = np.array([[p for _, p in s] for s in slots], dtype=np.float64)  # (L, d, 4)
        leaves.append(
            _Leaves(
                feature=np.array([[f for f, _ in s] for s in slots], dtype=np.int64),
                lower=table[..., 0],
                upper=table[..., 1],
                nan_follows=table[..., 2] > 0,
                zero=table[..., 3],
                value=np.array([v for _, v in found], dtype=np.float64),
            )
        )
    return Explainer("trees", units, tuple(groups), owner, base, leaves=tuple(leaves))


# ------------------------------------------------------------------ the estimator
def explainer_of(pipeline: Any, sample: np.ndarray) -> Explainer:
    """The explainer of a fitted ``assemble``d pipeline; ``sample``: a few rows of its model input matrix, where
    an ensemble's constant term is read off. Raises NotExplainable for a model it cannot explain exactly."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.base import is_classifier
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from xgboost import XGBClassifier, XGBRegressor

    from slipway.domain.transforms import Standardize

    owners = column_owners(pipeline.named_steps["features"])
    groups = list(dict.fromkeys(owners))
    owner = np.array([groups.index(o) for o in owners], dtype=np.int64)
    estimator = pipeline.steps[-1][1]
    between = [step for _, step in pipeline.steps[1:-1]]
    if any(not isinstance(step, Standardize) for step in between):
        raise NotExplainable("steps between the features and the model other than standardisation")
    x = np.asarray(sample, dtype=np.float64)

    if isinstance(estimator, (LogisticRegression, Ridge)):
        coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
        if not between:
            raise NotExplainable(f"{type(estimator).__name__} on unstandardised inputs: no training mean recorded")
        # the model's input is standardised on the rows it was fitted on: their mean is 0 in every column
        mean = np.zeros(coef.shape[1])
        units: Units = "value" if not is_classifier(estimator) else "log-odds" if coef.shape[0] == 1 else "margin"
        return Explainer("linear", units, tuple(groups), owner, intercept + coef @ mean, coef=coef, mean=mean)

    if isinstance(estimator, (RandomForestClassifier, RandomForestRegressor)):
        count = len(estimator.estimators_)
        trees = []
        for tree in estimator.estimators_:
            raw = np.asarray(tree.tree_.value, dtype=np.float64)[:, 0, :]  # (nodes, classes) or (nodes, 1)
            if is_classifier(estimator):
                raw = raw / np.where(raw.sum(axis=1, keepdims=True) > 0, raw.sum(axis=1, keepdims=True), 1.0)
            trees.append(_sklearn_tree(tree, raw / count))
        units = "probability" if is_classifier(estimator) else "value"
        outputs = trees[0].value.shape[1]
        return _tree_explainer(trees, np.zeros(outputs), units, groups, owner)

    if isinstance(estimator, (GradientBoostingClassifier, GradientBoostingRegressor)):
        stages = estimator.estimators_  # (rounds, K)
        outputs = stages.shape[1]
        rate = float(estimator.learning_rate)
        trees = []
        for stage in stages:
            for k, tree in enumerate(stage):
                value = np.zeros((tree.tree_.node_count, outputs))
                value[:, k] = np.asarray(tree.tree_.value, dtype=np.float64)[:, 0, 0] * rate
                trees.append(_sklearn_tree(tree, value))
        raw = estimator.decision_function(x[:1]) if is_classifier(estimator) else estimator.predict(x[:1])
        offset = _gb_offset(estimator, x[:1], np.asarray(raw, dtype=np.float64).reshape(-1))
        units = "value" if not is_classifier(estimator) else "log-odds" if outputs == 1 else "margin"
        return _tree_explainer(trees, offset, units, groups, owner)

    boosted = (LGBMClassifier, LGBMRegressor, XGBClassifier, XGBRegressor)
    if isinstance(estimator, (*boosted, HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        classes = len(estimator.classes_) if is_classifier(estimator) else 1
        outputs = 1 if classes <= 2 else classes
        units = "value" if not is_classifier(estimator) else "log-odds" if outputs == 1 else "margin"
        if isinstance(estimator, (LGBMClassifier, LGBMRegressor)):
            return _tree_explainer(_lightgbm_trees(estimator, outputs), np.zeros(outputs), units, groups, owner)
        if isinstance(estimator, (XGBClassifier, XGBRegressor)):
            trees = _xgboost_trees(estimator, outputs)
            raw = estimator.predict(x[:1].astype(np.float32), output_margin=True)
        else:
            if not is_classifier(estimator) and estimator.loss in ("poisson", "gamma"):
                raise NotExplainable(f"HistGradientBoostingRegressor's {estimator.loss} loss (trees add up its log)")
            trees = _hist_gradient_boosting_trees(estimator, outputs)
            raw = estimator.decision_function(x[:1]) if is_classifier(estimator) else estimator.predict(x[:1])
        return _tree_explainer(trees, _offset(trees, x[0], raw), units, groups, owner)

    raise NotExplainable(f"{type(estimator).__name__} has no exact explanation in slipway")


def _gb_offset(estimator: Any, row: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Gradient boosting's constant term (its initial estimate, as a raw score): the raw output of one row less
    what its trees add to it."""
    rate = float(estimator.learning_rate)
    added = np.zeros(estimator.estimators_.shape[1])
    for stage in estimator.estimators_:
        for k, tree in enumerate(stage):
            added[k] += float(tree.predict(row.astype(np.float32))[0]) * rate
    return raw - added


# ------------------------------------------------------------------ the check against ONNX
def onnx_outputs(session: Any, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(the model input matrix, the model's output: class probabilities ``(n, K)`` or values ``(n,)``) of an ONNX
    session whose graph has a ``features`` output."""
    names = [o.name for o in session.get_outputs()]
    answer = "probabilities" if "probabilities" in names else names[0]
    features, output = session.run(["features", answer], feed)
    values = np.asarray(output, dtype=np.float64)
    return np.asarray(features, dtype=np.float64), values if answer == "probabilities" else values.reshape(-1)


def _deviation(explainer: Explainer, features: np.ndarray, output: np.ndarray) -> float:
    """The largest difference between the model's output as the explanations add up to it and ONNX's."""
    if output.ndim == 1:
        raw = explainer.explain(features, np.zeros(len(features), dtype=np.int64)).raw()
        return float(np.max(np.abs(raw - output) / np.maximum(1.0, np.abs(output))))
    if explainer.units == "probability":
        got = np.column_stack(
            [explainer.explain(features, np.full(len(features), k)).raw() for k in range(explainer.outputs)]
        )
    elif explainer.units == "log-odds":
        p = 1.0 / (1.0 + np.exp(-explainer.explain(features, np.zeros(len(features), dtype=np.int64)).raw()))
        got = np.column_stack([1.0 - p, p])
    else:
        margins = np.column_stack(
            [explainer.explain(features, np.full(len(features), k)).raw() for k in range(explainer.outputs)]
        )
        margins -= margins.max(axis=1, keepdims=True)
        got = np.exp(margins) / np.exp(margins).sum(axis=1, keepdims=True)
    return float(np.max(np.abs(got - output)))


def checked_explainer(
    pipeline: Any, onnx_bytes: bytes, frame: pd.DataFrame, inputs: list[FeatureInput]
) -> tuple[bytes | None, dict[str, Any], Explanation | None]:
    """The explainer's bytes, its report, and the explanations of ``frame``'s first EXPLAIN_ROWS rows (the test
    split) — or None, and the report saying why, when the model is not explained exactly (the version is served all
    the same)."""
    import onnxruntime as ort

    from slipway.domain.features import model_input_columns

    try:
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        if "features" not in [o.name for o in session.get_outputs()]:
            raise NotExplainable("its ONNX model has no features output")
        features, output = onnx_outputs(session, model_input_columns(frame.iloc[:EXPLAIN_ROWS], inputs))
        explainer = explainer_of(pipeline, features[:1] if len(features) else np.zeros((1, features.shape[1])))
        if len(explainer.owner) != features.shape[1]:
            raise NotExplainable(f"{len(explainer.owner)} mapped columns for a model of {features.shape[1]}")
        deviation = _deviation(explainer, features, output) if len(features) else 0.0
    except NotExplainable as e:
        return None, {"status": "unavailable", "error": str(e)}, None
    if not deviation <= EXPLAIN_TOLERANCE:
        error = f"base + contributions differ from the ONNX output by {deviation:.3g} (over {EXPLAIN_TOLERANCE})"
        return None, {"status": "failed", "error": error, "max_diff": deviation}, None
    predicted = output.argmax(axis=1) if output.ndim == 2 else np.zeros(len(output), dtype=np.int64)
    explained: Explanation = explainer.explain(features, explainer.output_for(predicted))
    report = {
        "status": "ok",
        "method": "linear" if explainer.kind == "linear" else "tree_path_dependent",
        "units": explainer.units,
        "max_diff": deviation,
        "tolerance": EXPLAIN_TOLERANCE,
        "rows": len(features),  # the test rows checked and averaged over
    }
    return explainer.to_bytes(), report, explained


def mean_abs_contribution(explained: Explanation, explainer: Explainer) -> dict[str, float]:
    """Each raw feature's mean absolute contribution over the explained rows (the test split), largest first: the
    model card's global importance in the units of the model's output."""
    contributions = explained.contributions
    means = np.abs(contributions).mean(axis=0) if len(contributions) else np.zeros(len(explainer.groups))
    ranked = sorted(zip(explainer.groups, means.tolist(), strict=True), key=lambda pair: -pair[1])
    return {name: float(value) for name, value in ranked}
