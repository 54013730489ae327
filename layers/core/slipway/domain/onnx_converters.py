"""ONNX converters for slipway's transforms, so the served graph runs the same maths as the fitted transformers."""

from __future__ import annotations

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

__all__ = ["register_onnx_converters"]


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
    _REGISTERED = True
