"""The inference path stays numpy + onnxruntime + pydantic: a fresh process that imports it, converts JSON rows and
scores them loads no pandas, pyarrow, scikit-learn, scipy, skl2onnx or onnx, and gets the training path's arrays."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from slipway.domain.artifacts_codec import onnx_predict, to_onnx
from slipway.domain.features import fit_features, model_input_columns, model_input_frame
from slipway.domain.model_input import MISSING_DAYS, FeatureInput, InputKind
from slipway.domain.timestamps import parse_timestamp as lean_parse_timestamp
from slipway.spec.data import parse_timestamp as spec_parse_timestamp
from slipway.spec.features import SplitSpec
from tests.unit.test_features import CHURN_CONTRACT, FEATURES, churn_table

ROOT = Path(__file__).resolve().parents[2]
# What the infer Lambda imports: its event contracts and errors, the row conversion and the runtime.
INFERENCE_PATH = (
    "slipway.errors",
    "slipway.contracts.training",
    "slipway.domain.model_input",
    "slipway.domain.categories",
    "slipway.serving.service",
    "slipway.serving.http",
    "slipway.composition",
    "onnxruntime",
)
# Top-level packages it must never load (sys.modules keys compared exactly: "onnxruntime" is not "onnx").
FORBIDDEN = ("pandas", "pyarrow", "sklearn", "scipy", "skl2onnx", "onnx")

# Runs in a fresh interpreter: records who first imports a forbidden package (the import chain, as file:line),
# imports the inference path, converts the rows, optionally scores them with onnxruntime, and prints JSON.
PROBE = r"""
import importlib, json, sys, traceback

request = json.loads(sys.stdin.read())
culprits = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in request["forbidden"] and top not in culprits:
            frames = traceback.extract_stack()[:-1]
            culprits[top] = [f"{f.filename}:{f.lineno}" for f in frames if "importlib" not in f.filename][-6:]
        return None


sys.meta_path.insert(0, Watch())
for module in request["modules"]:
    importlib.import_module(module)
from slipway.domain.model_input import FeatureInput, model_input_from_records

out = {"columns": {}}
for case, spec in request["cases"].items():
    inputs = [FeatureInput(name, kind) for name, kind in spec["inputs"]]
    arrays = model_input_from_records(spec["records"], inputs)
    out["columns"][case] = {n: [str(a.dtype), list(a.shape), a.ravel().tolist()] for n, a in arrays.items()}
    if spec.get("onnx"):
        import onnxruntime as ort

        with open(spec["onnx"], "rb") as f:
            session = ort.InferenceSession(f.read(), providers=["CPUExecutionProvider"])
        out.setdefault("scores", {})[case] = session.run(["probabilities"], arrays)[0][:, 1].tolist()
out["modules"] = sorted(sys.modules)
out["culprits"] = culprits
print(json.dumps(out))
"""


def _probe(modules: tuple[str, ...], cases: dict[str, Any]) -> dict[str, Any]:
    request = {"modules": list(modules), "forbidden": list(FORBIDDEN), "cases": cases}
    run = subprocess.run(
        [sys.executable, "-c", PROBE], input=json.dumps(request), capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def _array(column: list[Any]) -> np.ndarray:
    dtype, shape, values = column
    return np.asarray(values, dtype=dtype).reshape(shape)


# Every input kind, with nulls and missing keys: numbers (int, float, bool), categories (strings and bools), and
# timestamps as ISO strings (offset, "Z", naive, date only) next to a date column.
INPUTS: list[tuple[str, InputKind]] = [
    ("n", "numeric"),
    ("x", "numeric"),
    ("flag", "numeric"),
    ("c", "categorical"),
    ("yes", "categorical"),
    ("ts", "timestamp"),
    ("day", "timestamp"),
]
RECORDS: list[dict[str, Any]] = [
    {"n": 1, "x": 2.5, "flag": True, "c": "a", "yes": True, "ts": "2024-02-29T23:30:00-01:00", "day": "2024-03-01"},
    {"n": None, "flag": False, "c": None, "yes": False, "ts": "1969-12-31T23:59:59Z", "day": None},
    {"n": -3, "x": 1e6, "flag": None, "c": "b", "yes": None, "ts": "1970-01-01T00:00:00", "day": "1900-01-01"},
    {"n": 7, "x": -0.1, "flag": True, "c": "", "ts": None, "day": "2038-01-19"},
]
# The same rows as the validate step's curated table (typed columns), read by the pandas path.
TABLE = pa.table(
    {
        "n": pa.array([1, None, -3, 7], pa.int64()),
        "x": pa.array([2.5, None, 1e6, -0.1], pa.float64()),
        "flag": pa.array([True, False, None, True]),
        "c": pa.array(["a", None, "b", ""]),
        "yes": pa.array([True, False, None, None]),
        "ts": pa.array(
            [
                datetime(2024, 3, 1, 0, 30, tzinfo=UTC),
                datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
                datetime(1970, 1, 1, tzinfo=UTC),
                None,
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "day": pa.array([date(2024, 3, 1), None, date(1900, 1, 1), date(2038, 1, 19)], pa.date32()),
    }
)


@pytest.fixture(scope="module")
def churn_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A churn classifier exported to ONNX, and fresh customers as the HTTP API receives them."""
    fitted = fit_features(churn_table(300), CHURN_CONTRACT, FEATURES, SplitSpec(seed=3))
    estimator = LogisticRegression(max_iter=2000).fit(fitted.transformed["train"], fitted.target["train"])
    pipeline = Pipeline([("features", fitted.preprocessor_), ("model", estimator)])
    path = tmp_path_factory.mktemp("onnx") / "churn.onnx"
    path.write_bytes(to_onnx(pipeline, fitted.inputs))
    table = churn_table(25, seed=11)
    records = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if v is not None}
        for row in table.to_pylist()
    ]
    return {"pipeline": pipeline, "inputs": fitted.inputs, "table": table, "records": records, "onnx": path}


@pytest.fixture(scope="module")
def lean(churn_case: dict[str, Any]) -> dict[str, Any]:
    """One fresh process that imports the inference path, converts both row sets and scores the churn rows."""
    churn = {
        "inputs": [[i.name, i.kind] for i in churn_case["inputs"]],
        "records": churn_case["records"],
        "onnx": str(churn_case["onnx"]),
    }
    return _probe(INFERENCE_PATH, {"mixed": {"inputs": INPUTS, "records": RECORDS}, "churn": churn})


def test_the_inference_path_loads_no_pandas_sklearn_or_onnx(lean: dict[str, Any]) -> None:
    # GIVEN a fresh process that imported the inference path, converted rows and ran an ONNX model
    loaded = set(lean["modules"])
    # THEN it really loaded the runtime and the conversion module (the probe is not vacuous)
    assert {"numpy", "onnxruntime", "pydantic", "slipway.domain.model_input", "slipway.contracts.training"} <= loaded
    # AND no forbidden package, named with the import chain that pulled it in
    heavy = sorted({m.partition(".")[0] for m in loaded} & set(FORBIDDEN))
    assert heavy == [], f"the inference path imported {heavy}; first import chains: {json.dumps(lean['culprits'])}"


def test_the_probe_names_who_imports_a_forbidden_package() -> None:
    # GIVEN the training-side features module, which needs pandas and scikit-learn WHEN probed
    found = _probe(("slipway.domain.features",), {})
    # THEN the probe reports them, with features.py in the import chain
    assert {"pandas", "pyarrow", "sklearn"} <= found["culprits"].keys()
    assert any("slipway/domain/features.py" in frame for frame in found["culprits"]["pandas"])


def test_json_rows_give_the_arrays_of_the_pandas_path(lean: dict[str, Any]) -> None:
    # GIVEN the same rows as JSON (converted in the lean process) and as a curated table (the pandas path)
    inputs = [FeatureInput(name, kind) for name, kind in INPUTS]
    expected = model_input_columns(model_input_frame(TABLE, inputs), inputs)
    got = {name: _array(column) for name, column in lean["columns"]["mixed"].items()}
    # THEN every column has the same dtype, (n, 1) shape and values (NaN where null)
    assert got.keys() == expected.keys()
    for name, column in expected.items():
        assert (got[name].dtype, got[name].shape) == (column.dtype, (4, 1)), name
        np.testing.assert_array_equal(got[name], column, err_msg=name)
    # AND the values are the documented ones: bools are 1/0 or "true"/"false", nulls NaN, "" or MISSING_DAYS
    np.testing.assert_array_equal(got["flag"].ravel(), np.array([1, 0, np.nan, 1], np.float32))
    assert got["yes"].ravel().tolist() == ["true", "false", "", ""]
    assert got["c"].ravel().tolist() == ["a", "", "b", ""]
    assert got["ts"].ravel().tolist() == [19783, -1, 0, MISSING_DAYS]
    assert got["day"].ravel().tolist() == [19783, MISSING_DAYS, -25567, 24855]


def test_the_lean_process_scores_like_the_training_stack(lean: dict[str, Any], churn_case: dict[str, Any]) -> None:
    # GIVEN churn customers scored in the lean process from JSON rows
    scores = np.asarray(lean["scores"]["churn"], dtype=np.float32)
    frame = model_input_frame(churn_case["table"], churn_case["inputs"])
    # THEN the arrays and the probabilities equal those of the pandas path, and match scikit-learn within 1e-5
    for name, column in model_input_columns(frame, churn_case["inputs"]).items():
        np.testing.assert_array_equal(_array(lean["columns"]["churn"][name]), column, err_msg=name)
    np.testing.assert_array_equal(
        scores, onnx_predict(churn_case["onnx"].read_bytes(), model_input_columns(frame, churn_case["inputs"]))[:, 1]
    )
    np.testing.assert_allclose(scores, churn_case["pipeline"].predict_proba(frame)[:, 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-29T23:30:00-01:00", datetime(2024, 3, 1, 0, 30, tzinfo=UTC)),
        ("1969-12-31T23:59:59Z", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (" 2024-03-01 ", datetime(2024, 3, 1, tzinfo=UTC)),
        (date(1900, 1, 1), datetime(1900, 1, 1, tzinfo=UTC)),
        (datetime(2020, 5, 1, 12), datetime(2020, 5, 1, 12, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (-86_401.5, datetime(1969, 12, 30, 23, 59, 58, 500_000, tzinfo=UTC)),
    ],
    ids=repr,
)
def test_the_timestamp_parser_the_inference_path_uses_gives_utc(value: Any, expected: datetime) -> None:
    # GIVEN the stdlib-only parser, which the spec also uses (one copy) THEN every form lands in UTC
    assert spec_parse_timestamp is lean_parse_timestamp
    assert lean_parse_timestamp(value) == expected
    assert lean_parse_timestamp(value).utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [True, "yesterday", "2024-13-01"], ids=repr)
def test_the_timestamp_parser_refuses_what_is_not_a_timestamp(value: Any) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        lean_parse_timestamp(value)


def test_the_infer_function_itself_loads_none_of_the_science_stack() -> None:
    # GIVEN the infer handler module exactly as Lambda loads it (functions/infer/app.py)
    probe = (
        "import json, runpy, sys\n"
        "runpy.run_path('functions/infer/app.py', run_name='app')\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] in {list(FORBIDDEN)!r})))"
    )
    # WHEN it is imported in a fresh interpreter
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    # THEN none of pandas, pyarrow, scikit-learn, scipy, skl2onnx or onnx is loaded
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []
