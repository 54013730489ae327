"""ONNX converters for slipway's transforms, so the served graph runs the same maths as the fitted transformers."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from slipway.domain.transforms import (
    DAY0_SHIFT,
    ERA_DAYS,
    Clip,
    DateParts,
    FillMissing,
    Log1p,
    OneHotTop,
    Ratio,
    Standardize,
)

__all__ = ["for_onnx", "register_onnx_converters"]


class _Graph:
    """Tiny helper over skl2onnx's scope/container: named constants and single-output nodes."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope, self.container = scope, container

    def const(self, value: Any, dtype: Any) -> str:
        from onnx import helper

        array = np.asarray(value, dtype=dtype)
        name: str = self.scope.get_unique_variable_name("c")
        proto_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        self.container.add_initializer(name, proto_type, list(array.shape), array.ravel().tolist())
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, domain: str = "", **attrs: Any) -> str:
        name = out or self.scope.get_unique_variable_name(op_type.lower())
        node = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, list(inputs), [name], op_domain=domain, name=node, **attrs)
        return name

    def cast(self, value: str, dtype: Any, out: str | None = None) -> str:
        from onnx import helper

        return self.op("Cast", value, out=out, to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def _io(operator: Any) -> tuple[str, str]:
    return operator.inputs[0].full_name, operator.outputs[0].full_name


def _convert_standardize(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    centred = g.op("Sub", g.cast(x, np.float64), g.const(est.mean_.reshape(1, -1), np.float64))
    g.cast(g.op("Div", centred, g.const(est.scale_.reshape(1, -1), np.float64)), np.float32, out=y)


def _convert_log1p(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    x64 = g.cast(x, np.float64)
    positive = g.op("Max", x64, g.const([0.0], np.float64))
    g.cast(g.op("Log", g.op("Add", positive, g.const([1.0], np.float64))), np.float32, out=y)


def _convert_clip(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    if est.min is not None:
        x = g.op("Max", x, g.const([est.min], np.float32), out=y if est.max is None else None)
    if est.max is not None:
        g.op("Min", x, g.const([est.max], np.float32), out=y)


def _convert_ratio(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    x64 = g.cast(x, np.float64)
    num = g.op("Gather", x64, g.const([0], np.int64), axis=1)
    den = g.op("Gather", x64, g.const([1], np.int64), axis=1)
    zero = g.const([0.0], np.float64)
    safe = g.op("Where", g.op("Equal", den, zero), zero, g.op("Div", num, den))
    g.cast(safe, np.float32, out=y)


def _convert_date_parts(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)

    def k(v: int) -> str:
        return g.const([v], np.int64)

    def floordiv(a: str, d: int) -> str:  # exact for any sign: (a - a mod d) / d, mod with the divisor's sign
        return g.op("Div", g.op("Sub", a, g.op("Mod", a, k(d), fmod=0)), k(d))

    def div(a: str, d: int) -> str:  # operands are non-negative here, so truncation equals floor
        return g.op("Div", a, k(d))

    def mul(a: str, c: int) -> str:
        return g.op("Mul", a, k(c))

    days = g.cast(x, np.int64)
    z = g.op("Add", days, k(DAY0_SHIFT))
    era = floordiv(z, ERA_DAYS)
    doe = g.op("Sub", z, mul(era, ERA_DAYS))
    yoe_num = g.op("Sub", g.op("Add", g.op("Sub", doe, div(doe, 1460)), div(doe, 36524)), div(doe, ERA_DAYS - 1))
    yoe = div(yoe_num, 365)
    doy = g.op("Sub", doe, g.op("Sub", g.op("Add", mul(yoe, 365), div(yoe, 4)), div(yoe, 100)))
    mp = div(g.op("Add", mul(doy, 5), k(2)), 153)
    wraps = g.cast(g.op("GreaterOrEqual", mp, k(10)), np.int64)
    month = g.op("Sub", g.op("Add", mp, k(3)), mul(wraps, 12))
    parts = {
        "year": g.op("Add", g.op("Add", yoe, mul(era, 400)), g.cast(g.op("Less", month, k(3)), np.int64)),
        "month": month,
        "day": g.op("Add", g.op("Sub", doy, div(g.op("Add", mul(mp, 153), k(2)), 5)), k(1)),
        "dayofweek": g.op("Mod", g.op("Add", days, k(3)), k(7), fmod=0),
    }
    axis = g.const([2], np.int64)
    chosen = [g.op("Unsqueeze", parts[p], axis) for p in operator.raw_operator.parts]
    stacked = chosen[0] if len(chosen) == 1 else g.op("Concat", *chosen, axis=2)
    flat = g.op("Reshape", stacked, g.const([0, -1], np.int64))
    g.cast(flat, np.float32, out=y)


def _convert_one_hot_top(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    blocks = []
    for j, (cats, infrequent) in enumerate(zip(est.categories_, est.infrequent_, strict=True)):
        column = g.op("Gather", x, g.const([j], np.int64), axis=1)
        hot3 = g.op("OneHotEncoder", column, domain="ai.onnx.ml", cats_strings=[str(c) for c in cats], zeros=1)
        hot = g.op("Reshape", hot3, g.const([-1, len(cats)], np.int64))
        blocks.append(hot)
        if infrequent:
            seen = g.op("ReduceSum", hot, g.const([1], np.int64), keepdims=1)
            blocks.append(g.op("Sub", g.const([1.0], np.float32), seen))
    if len(blocks) == 1:
        g.op("Identity", blocks[0], out=y)
    else:
        g.op("Concat", *blocks, out=y, axis=1)


def _convert_fill_missing(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    dtype = object if est.text_ else np.int64
    fill = g.const(np.asarray(est.statistics_, dtype=dtype).reshape(1, -1), dtype)
    g.op("Where", g.op("Equal", x, g.const([est.marker_], dtype)), fill, x, out=y)


def _same_type(operator: Any) -> None:
    """FillMissing keeps its input's type (strings or int64 days) and width."""
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    rows = operator.inputs[0].get_first_dimension()
    kind = StringTensorType if operator.raw_operator.text_ else Int64TensorType
    operator.outputs[0].type = kind([rows, operator.raw_operator.n_features_in_])


def _shape(width: Any) -> Any:
    def calculate(operator: Any) -> None:
        from skl2onnx.common.data_types import FloatTensorType

        rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = FloatTensorType([rows, width(operator.raw_operator)])

    return calculate


_REGISTERED = False


def register_onnx_converters() -> None:
    """Teach skl2onnx these transformers (once per process; later calls do nothing)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter

    table = [
        (Standardize, _convert_standardize, lambda est: est.n_features_in_),
        (Log1p, _convert_log1p, lambda est: est.n_features_in_),
        (Clip, _convert_clip, lambda est: est.n_features_in_),
        (Ratio, _convert_ratio, lambda est: 1),
        (DateParts, _convert_date_parts, lambda est: est.n_features_in_ * len(est.parts)),
        (OneHotTop, _convert_one_hot_top, lambda est: est.n_outputs_),
    ]
    for cls, convert, width in table:
        update_registered_converter(cls, f"Slipway{cls.__name__}", _shape(width), convert)
    update_registered_converter(FillMissing, "SlipwayFillMissing", _same_type, _convert_fill_missing)
    _register_lightgbm(update_registered_converter)
    _register_xgboost(update_registered_converter)
    _register_hist_gradient_boosting(update_registered_converter)
    _REGISTERED = True


def _register_lightgbm(update_registered_converter: Any) -> None:
    """LightGBM's estimators through onnxmltools' converter, inside skl2onnx's pipeline conversion (the way
    skl2onnx documents for models it does not know): classifiers output label and probabilities as ours do."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )


def _register_xgboost(update_registered_converter: Any) -> None:
    """XGBoost's estimators through onnxmltools' converter, as LightGBM's (it reads the booster's own base_score,
    a vector per class in XGBoost 3, and stops at the early-stopped round)."""
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    update_registered_converter(
        XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        convert_xgboost,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost
    )


class _IntegerFlags:
    """skl2onnx's container, handing ``add_node`` integers where skl2onnx 1.20's HistGradientBoosting converter
    passes Python booleans in an integer list (``nodes_missing_value_tracks_true``: ``False`` at every leaf), which
    onnx 1.23 refuses ("Field onnx.AttributeProto.ints: Expected an int, got a boolean"), so that every
    HistGradientBoosting model failed to convert. Everything else goes to the container as it is."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, op_type: str, inputs: Any, outputs: Any, *args: Any, **attrs: Any) -> Any:
        fixed = {
            key: [int(v) if isinstance(v, (bool, np.bool_)) else v for v in value] if isinstance(value, list) else value
            for key, value in attrs.items()
        }
        return self._container.add_node(op_type, inputs, outputs, *args, **fixed)


def _register_hist_gradient_boosting(update_registered_converter: Any) -> None:
    """scikit-learn's HistGradientBoosting* through skl2onnx's own converter, given integer flags (_IntegerFlags)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    classifier = {"nocl": [True, False], "zipmap": [True, False, "columns"], "raw_scores": [True, False]}
    for cls, options in ((HistGradientBoostingClassifier, classifier), (HistGradientBoostingRegressor, None)):
        alias = sklearn_operator_name_map[cls]
        converter = _with_integer_flags(get_converter(alias))
        update_registered_converter(cls, alias, get_shape_calculator(alias), converter, overwrite=True, options=options)


def _with_integer_flags(convert: Any) -> Any:
    def converter(scope: Any, operator: Any, container: Any) -> None:
        convert(scope, operator, _IntegerFlags(container))

    return converter


def for_onnx(pipeline: Any) -> Any:
    """The pipeline to convert: itself, or with a LightGBM or HistGradientBoosting model's thresholds written as
    float32 values.

    ONNX tree ensembles hold float32 thresholds; LightGBM's and HistGradientBoosting's are doubles midway between
    two values they saw, and one rounded up to the next float32 sends an input equal to that value the other way (on
    scikit-learn's breast cancer set, 1 LightGBM row in 569 off by 3.5e-5 in probability, past parity's 1e-5). The
    features reach the model as float32, and for a float32 x, ``x <= t`` exactly when ``x <= t'`` with t' the
    largest float32 not above t: a copy split at t' predicts the same as the fitted model on every input, and
    converts exactly. (XGBoost's thresholds are float32 values already.)
    """
    from lightgbm import Booster, LGBMClassifier, LGBMRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    name, estimator = pipeline.steps[-1]
    exact = copy.copy(estimator)
    if isinstance(estimator, (LGBMClassifier, LGBMRegressor)):
        exact._Booster = Booster(model_str=float32_thresholds(estimator.booster_.model_to_string()))
    elif isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        exact._predictors = [[_lowered_predictor(tree) for tree in trees] for trees in estimator._predictors]
    else:
        return pipeline
    return Pipeline([*pipeline.steps[:-1], (name, exact)])


def _lowered_predictor(tree: Any) -> Any:
    """A copy of a HistGradientBoosting ``TreePredictor`` split at the largest float32 not above each threshold."""
    lowered = copy.copy(tree)
    nodes = tree.nodes.copy()
    split = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 0)
    nodes["num_threshold"][split] = _float32_floor(nodes["num_threshold"][split])
    lowered.nodes = nodes
    return lowered


def _float32_floor(values: np.ndarray) -> np.ndarray:
    """Each double as the largest float32 value not above it (as doubles)."""
    with np.errstate(over="ignore"):
        lowered = values.astype(np.float32)
    above = lowered.astype(np.float64) > values
    lowered[above] = np.nextafter(lowered[above], np.float32(-np.inf))
    return lowered.astype(np.float64)


def float32_thresholds(model: str) -> str:
    """A LightGBM text model with each numerical split's threshold lowered to the largest float32 not above it."""
    lines = model.split("\n")
    kept: list[str] = []
    threshold_at = -1
    for line in lines:
        key, _, values = line.partition("=")
        if key == "tree_sizes":  # bytes per tree, which no longer hold: without them LightGBM reads trees in turn
            continue
        if key == "threshold":
            threshold_at = len(kept)
        elif key == "decision_type" and threshold_at >= 0:  # a tree's thresholds come just before their kinds
            kept[threshold_at] = "threshold=" + _lowered(kept[threshold_at].partition("=")[2], values)
            threshold_at = -1
        kept.append(line)
    return "\n".join(kept)


def _lowered(thresholds_text: str, kinds_text: str) -> str:
    thresholds = np.array(thresholds_text.split(), dtype=np.float64)
    kinds = np.array(kinds_text.split(), dtype=np.int64)
    numerical = (kinds & 1) == 0  # bit 0 of decision_type marks a categorical split, whose "threshold" is an index
    return " ".join(repr(float(v)) for v in np.where(numerical, _float32_floor(thresholds), thresholds))
