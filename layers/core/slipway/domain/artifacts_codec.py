"""Model artifacts without pickle: skops files loaded only with allow-listed types, and ONNX exports for serving."""

from __future__ import annotations

import json
import zipfile
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from slipway.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    import pandas as pd

    from slipway.domain.model_input import FeatureInput

__all__ = [
    "ALLOWED_TYPES",
    "ALLOWED_TYPE_PREFIXES",
    "TARGET_OPSET",
    "dump_model",
    "load_model",
    "onnx_predict",
    "parity",
    "to_onnx",
]

# Types a skops artifact may contain. numpy entries that touch files are refused even though they match.
ALLOWED_TYPE_PREFIXES = ("sklearn.", "numpy.", "slipway.domain.transforms.")
# And these types by their exact names: the `lightgbm` algorithm's estimators, the Booster they hold (kept as
# LightGBM's text model and rebuilt by parsing it) and the ordered dict of its fit state; the `xgboost` algorithm's
# estimators and their Booster (kept as XGBoost's own serialised model, rebuilt by XGBoosterUnserializeFromBuffer);
# nothing else of either library.
ALLOWED_TYPES = frozenset(
    {
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.core.Booster",
    }
)
_REFUSED_NUMPY = ("numpy.memmap", "numpy.load", "numpy.save", "numpy.fromfile", "numpy.lib.npyio", "numpy.lib.format")
# Default ONNX domain opset 21 and ai.onnx.ml 3: the newest that skl2onnx 1.20 tests and onnxruntime 1.32 runs.
TARGET_OPSET: dict[str, int] = {"": 21, "ai.onnx.ml": 3}
Task = Literal["classification", "regression"]


def dump_model(obj: Any) -> bytes:
    """A fitted estimator (or any scikit-learn object) as skops bytes."""
    import skops.io as sio

    return bytes(sio.dumps(obj))


def _allowed(type_name: str) -> bool:
    if type_name.startswith(_REFUSED_NUMPY):
        return False
    return type_name in ALLOWED_TYPES or type_name.startswith(ALLOWED_TYPE_PREFIXES)


def load_model(data: bytes) -> Any:
    """Load skops bytes, trusting the types they contain only if all are allow-listed.

    Raises ``ArtifactIntegrityError`` naming the refused types, or when the bytes are not a skops file.
    Bytes read from S3 come through ``artifact_io.verified_bytes``, which checks their recorded SHA-256.
    """
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ArtifactIntegrityError("model artifact is not a readable skops file") from exc
    refused = sorted(t for t in untrusted if not _allowed(t))
    if refused:
        raise ArtifactIntegrityError(
            f"model artifact contains types outside the allow-list: {', '.join(refused)}",
            details={"types": refused},
        )
    return sio.loads(data, trusted=untrusted)


def to_onnx(pipeline: Any, inputs: list[FeatureInput]) -> bytes:
    """ONNX bytes of a fitted ``Pipeline([("features", preprocessor), ("model", estimator)])``, one input per
    column ([None, 1]: float for numeric, string for categorical, int64 days for timestamps). Classifiers
    output plain tensors ("label", "probabilities"), regressors "variable"."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.base import is_classifier

    from slipway.domain.onnx_converters import for_onnx, register_onnx_converters

    register_onnx_converters()
    pipeline = for_onnx(pipeline)
    types = {"numeric": FloatTensorType, "categorical": StringTensorType, "timestamp": Int64TensorType}
    initial_types = [(i.name, types[i.kind]([None, 1])) for i in inputs]
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    model = convert_sklearn(pipeline, initial_types=initial_types, options=options, target_opset=TARGET_OPSET)
    _features_output(model)
    if not is_classifier(estimator) and hasattr(estimator, "coef_"):
        _linear_regressor_in_double(model, estimator)
    return bytes(model.SerializeToString())


# The ops that hold the estimator itself in a converted pipeline; its input is the model's feature matrix.
_ESTIMATOR_OPS = frozenset({"LinearClassifier", "LinearRegressor", "TreeEnsembleClassifier", "TreeEnsembleRegressor"})


def _features_output(model: Any) -> None:
    """Name the estimator's input matrix (the transformed features) as a second output, ``features``, last: the
    inference path reads it to explain a prediction (``slipway.domain.explanations``) from the same graph and the
    same run. Models with no single estimator op get none (and are not explained)."""
    from onnx import TensorProto, helper

    graph = model.graph
    found = [n for n in graph.node if n.op_type in _ESTIMATOR_OPS and n.domain == "ai.onnx.ml"]
    if len(found) != 1:
        return
    graph.node.append(helper.make_node("Cast", [found[0].input[0]], ["features"], to=TensorProto.FLOAT))
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, None]))


def _linear_regressor_in_double(model: Any, estimator: Any) -> None:
    """Swap ai.onnx.ml LinearRegressor (float32 weights and sums) for a float64 MatMul + Add.

    The features are exact float32 values, but raw ones such as a year (~2000) times a float32 weight,
    summed in float32, drift ~1e-4 from scikit-learn's float64 result; in float64 the drift is gone.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    found = [i for i, n in enumerate(graph.node) if n.op_type == "LinearRegressor" and n.domain == "ai.onnx.ml"]
    if len(found) != 1:
        return
    index, node = found[0], graph.node[found[0]]
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    coef = coef.reshape(-1, 1) if coef.ndim == 1 else coef.T
    intercept = np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)
    x, y = node.input[0], node.output[0]
    names = {k: f"{y}_{k}" for k in ("x64", "coef64", "intercept64", "product64", "sum64")}
    graph.initializer.extend(
        [numpy_helper.from_array(coef, names["coef64"]), numpy_helper.from_array(intercept, names["intercept64"])]
    )
    replacement = [
        helper.make_node("Cast", [x], [names["x64"]], to=TensorProto.DOUBLE),
        helper.make_node("MatMul", [names["x64"], names["coef64"]], [names["product64"]]),
        helper.make_node("Add", [names["product64"], names["intercept64"]], [names["sum64"]]),
        helper.make_node("Cast", [names["sum64"]], [y], to=TensorProto.FLOAT),
    ]
    del graph.node[index]
    for offset, new_node in enumerate(replacement):
        graph.node.insert(index + offset, new_node)


def onnx_predict(onnx_bytes: bytes, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Class probabilities ``(n, k)``, columns in label-code order (classifiers; the version's ``labels`` names
    them), or predicted values ``(n,)`` (regressors)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feed = {i.name: columns[i.name] for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if "probabilities" in outputs:
        return np.asarray(session.run(["probabilities"], feed)[0])
    return np.asarray(session.run([outputs[0]], feed)[0]).reshape(-1)


def parity(pipeline: Any, onnx_bytes: bytes, frame: pd.DataFrame, inputs: list[FeatureInput], task: Task) -> float:
    """Max difference sklearn vs ONNX on ``frame`` (a ``model_input_frame``).

    Classification: absolute, over the probability of every class. Regression: relative to max(1, |value|),
    because ONNX tree ensembles sum in float32 (about 3e-7 of the target's magnitude).
    """
    from slipway.domain.features import model_input_columns

    if len(frame) == 0:
        return 0.0
    got = onnx_predict(onnx_bytes, model_input_columns(frame, inputs))
    if task == "classification":
        expected = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        if got.shape != expected.shape:
            raise ValueError(f"ONNX gives {got.shape[1]} class probabilities, scikit-learn {expected.shape[1]}")
        return float(np.max(np.abs(expected - got)))
    expected = np.asarray(pipeline.predict(frame), dtype=np.float64).reshape(-1)
    difference = np.abs(expected - got)
    if task == "regression":
        difference = difference / np.maximum(1.0, np.abs(expected))
    return float(np.max(difference))


ONNX_TOLERANCE = 1e-5


def checked_onnx(
    pipeline: Any, inputs: list[FeatureInput], frame: pd.DataFrame, task: Task, tolerance: float = ONNX_TOLERANCE
) -> tuple[bytes | None, dict[str, Any]]:
    """The pipeline as ONNX, kept only if it matches scikit-learn on ``frame`` within ``tolerance``.

    Returns (bytes, report) or (None, report with the reason): a model that does not convert, or
    converts but disagrees, is served from its skops file only and marked so.
    """
    measure = "relative" if task == "regression" else "absolute"
    try:
        onnx_bytes = to_onnx(pipeline, inputs)
        diff = parity(pipeline, onnx_bytes, frame, inputs, task)
    except Exception as e:  # noqa: BLE001 - any converter or runtime failure means "no ONNX", with its reason
        return None, {"status": "failed", "error": f"{type(e).__name__}: {e}"[:500]}
    if not diff <= tolerance:
        error = f"max {measure} |Δ| {diff:.3g} vs scikit-learn exceeds {tolerance}"
        return None, {"status": "failed", "error": error, "max_diff": diff, "measure": measure}
    return onnx_bytes, {"status": "ok", "max_diff": diff, "measure": measure, "tolerance": tolerance}
