"""A model accepts the rows it was trained on: every row of a training file, sent to the inference service as a
client sends JSON (numbers as numbers, read by pandas; or every value as text, read by the csv module), is
accepted and predicted as batch scoring predicts the same file. The files: the example specs' data (the churn
sample of ``slipway sample churn``, scikit-learn's sets for specs/*.yaml, iris with a float-coded category), a
survey table whose occupation codes were written ``4.0`` (text labels, nulls in every kind of column), and a
public table no spec here was written for (scikit-learn's wine)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from threadpoolctl import threadpool_limits

from slipway.contracts.batch import PartRequest, ScoreRequest
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.serving.models import ModelCache
from slipway.serving.service import InferenceService
from slipway.steps.batch.resolve_batch import resolve_batch
from slipway.steps.batch.score_part import score_part
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn
from tests.fakes import FakeCaptureSink, fake_deps
from tests.unit.steps.support import SPECS, run_pipeline, spec_text

CHUNK = 1_000  # rows per request


def _breast_cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns[:-1]] + ["benign"]
    return frame


def _diagnosis() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, :10].rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = data.target_names[data.target]
    return frame


def _iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_")).drop(columns="target")
    frame["species"] = data.target_names[data.target]
    return frame


def _iris_banded() -> pd.DataFrame:
    frame = _iris()
    frame.insert(4, "band", np.digitize(frame["sepal_length"], [5.5, 6.5]).astype(float) + 1.0)  # "1.0" in CSV
    return frame


def _diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})


def _survey(rows: int = 1_500, seed: int = 4) -> pd.DataFrame:
    """Answers as a statistics package exports them: occupation codes as floats (4.0, and empty when not
    answered), ages with gaps (so 34.0), yes/no as True/False with gaps, text labels, dates with gaps."""
    rng = np.random.default_rng(seed)

    def gaps(values: np.ndarray, share: float = 0.06) -> np.ndarray:
        out = values.astype(object)
        out[rng.random(rows) < share] = None
        return out

    occupation = rng.integers(1, 7, rows).astype(float)
    occupation[rng.random(rows) < 0.05] = np.nan
    age = rng.integers(16, 90, rows).astype(float)
    age[rng.random(rows) < 0.04] = np.nan
    hours = np.round(rng.gamma(6.0, 6.0, rows).clip(0, 100), 1)
    hours[rng.random(rows) < 0.03] = np.nan
    education = gaps(rng.choice(["primary", "secondary", "tertiary"], rows))
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 1_000, rows), unit="D")
    score = 0.4 * np.nan_to_num(occupation, nan=3) + 0.05 * np.nan_to_num(hours, nan=30) + rng.normal(0, 1, rows)
    return pd.DataFrame(
        {
            "respondent": np.arange(100_000, 100_000 + rows),
            "occupation": occupation,
            "education": education,
            "region": rng.choice([10, 20, 30], rows),
            "age": age,
            "hours": hours,
            "owns_home": gaps(rng.random(rows) < 0.5),
            "interviewed": gaps(np.asarray(days.strftime("%Y-%m-%d"))),
            "income": np.where(score > np.median(score), "high", "low"),
        }
    )


SURVEY = """name: survey
description: Household survey answers, codes as a statistics package writes them.
data:
  target: income
  entity_id: respondent
  min_rows: 100
  columns:
    - {name: respondent, type: int, unique: true}
    - {name: occupation, type: category, nullable: true, allowed: ["1.0", "2.0", "3.0", "4.0", "5.0", "6.0"]}
    - {name: education, type: category, nullable: true, allowed: [primary, secondary, tertiary]}
    - {name: region, type: category, allowed: [10, 20, 30]}
    - {name: age, type: int, nullable: true, min: 16, max: 99}
    - {name: hours, type: float, nullable: true, min: 0, max: 100}
    - {name: owns_home, type: bool, nullable: true}
    - {name: interviewed, type: timestamp, nullable: true, min: "2020-01-01"}
    - {name: income, type: category, allowed: [low, high]}
features:
  transforms:
    - {kind: one_hot, columns: [occupation, education, region]}
    - {kind: standardize, columns: [age, hours]}
    - {kind: date_parts, columns: [interviewed], parts: [year, month]}
training:
  task: classification
  metric: roc_auc
  seed: 3
  split: {method: random, seed: 3, valid: 0.2, test: 0.2}
  candidates:
    - algorithm: logistic_regression
      grid: {C: [1.0]}
    - algorithm: random_forest
      grid: {n_estimators: [30], max_depth: [5]}
"""


def _wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    return frame.rename(columns=lambda c: c.replace("/", "_"))


def _wine_spec() -> str:
    """A spec as a user writes one for a table of their own: every measurement a float, the class a category."""
    measured = [c for c in _wine().columns if c != "cultivar"]
    columns = "\n".join(f"    - {{name: {c}, type: float, min: 0}}" for c in measured)
    return f"""name: wine
data:
  target: cultivar
  min_rows: 100
  columns:
{columns}
    - {{name: cultivar, type: category, allowed: [0, 1, 2]}}
features:
  transforms:
    - {{kind: standardize, columns: [{", ".join(measured)}]}}
training:
  task: classification
  metric: f1_macro
  seed: 5
  split: {{method: random, seed: 5, valid: 0.2, test: 0.2}}
  candidates:
    - algorithm: logistic_regression
      grid: {{C: [1.0]}}
"""


def _iris_banded_spec() -> str:
    text = (SPECS / "iris.yaml").read_text().replace("name: iris", "name: iris-banded", 1)
    return text.replace(
        "    - name: species\n", "    - {name: band, type: category, allowed: [1, 2, 3]}\n    - name: species\n"
    )


DATASETS: dict[str, tuple[Callable[[], str], Callable[[], pd.DataFrame]]] = {
    "churn": (lambda: spec_text("churn"), lambda: make_churn(n_rows=12_000, seed=7)),  # `slipway sample churn`
    "breast-cancer": (lambda: (SPECS / "breast-cancer.yaml").read_text(), _breast_cancer),
    "breast-cancer-diagnosis": (lambda: (SPECS / "breast-cancer-diagnosis.yaml").read_text(), _diagnosis),
    "iris": (lambda: (SPECS / "iris.yaml").read_text(), _iris),
    "iris-banded": (_iris_banded_spec, _iris_banded),
    "diabetes": (lambda: (SPECS / "diabetes.yaml").read_text(), _diabetes),
    "survey": (lambda: SURVEY, _survey),
    "wine": (_wine_spec, _wine),
}


@dataclass(frozen=True)
class Trained:
    deps: Deps
    model: str
    body: bytes  # the training file, as uploaded


@pytest.fixture(scope="module")
def trained() -> Iterator[Callable[[str], Trained]]:
    """Each dataset's spec pushed, its CSV uploaded and trained to a registered version in production."""
    done: dict[str, Trained] = {}

    def train(model: str) -> Trained:
        if model not in done:
            spec, frame = DATASETS[model]
            deps = fake_deps()
            push_spec(deps, spec())
            body = frame().to_csv(index=False).encode()
            version = run_pipeline(deps, f"run-{model}", f"{model}/training.csv", body, until="register").registered
            assert version is not None
            ModelRegistry.of(deps).set_alias(model, "production", version.version, actor="test", reason="serve")
            done[model] = Trained(deps, model, body)
        return done[model]

    with threadpool_limits(limits=1):
        yield train


def _batch_scores(trained: Trained) -> pa.Table:
    """The training file scored by the batch machine's steps (resolve, then one score_part)."""
    deps = trained.deps
    key = f"scoring/{trained.model}/training.csv"
    deps.store.put_bytes(S3Object(bucket=deps.settings.lake_bucket, key=key), trained.body)
    event = {
        "run_id": f"score-{trained.model}",
        "ref": f"{trained.model}@production",
        "input": f"s3://{deps.settings.lake_bucket}/scoring/{trained.model}/",
    }
    resolved = resolve_batch(deps, ScoreRequest.from_event(event))
    request = PartRequest.from_event({"batch": resolved.model_dump(mode="json"), "key": key})
    result = score_part(deps, request, ModelCache(deps.store))
    assert result.output_uri is not None
    return pq.read_table(io.BytesIO(deps.store.get_bytes(S3Object.parse(result.output_uri))))


def _as_numbers(body: bytes) -> list[dict[str, Any]]:
    """Rows as a client that reads the file with pandas sends them: numbers as JSON numbers (4.0 stays 4.0),
    True/False as booleans, dates as text, missing values as null."""
    records = pd.read_csv(io.BytesIO(body)).to_dict(orient="records")
    rows = [{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in r.items()} for r in records]
    return json.loads(json.dumps(rows, default=lambda v: v.item()))  # numpy scalars as JSON numbers


def _as_text(body: bytes) -> list[dict[str, Any]]:
    """Rows as a client that reads the file with the csv module sends them: every value the cell's text
    (a missing value the empty text)."""
    return json.loads(json.dumps(list(csv.DictReader(io.StringIO(body.decode())))))


@pytest.mark.parametrize("client", [_as_numbers, _as_text], ids=["numbers", "text"])
@pytest.mark.parametrize("model", list(DATASETS))
def test_every_training_row_sent_as_json_is_predicted_as_batch_scoring_predicts_it(
    trained: Callable[[str], Trained], model: str, client: Callable[[bytes], list[dict[str, Any]]]
) -> None:
    # GIVEN a version trained on a CSV file and put in production, and the file scored by batch scoring
    run = trained(model)
    expected = _batch_scores(run)
    service = InferenceService(run.deps, alias_ttl_s=60)
    rows = client(run.body)
    assert len(rows) == expected.num_rows

    # WHEN every row of the file is sent to the inference service as a client sends it
    predictions: list[Any] = []
    probabilities: list[dict[str, float] | None] = []
    for start in range(0, len(rows), CHUNK):
        body = service.predict(model, rows[start : start + CHUNK], f"req-{start}").body
        predictions += body["predictions"]
        probabilities += body.get("probabilities") or [None] * len(body["predictions"])

    # THEN no row is refused, and each gets batch scoring's prediction (and its probabilities)
    batch = expected.column("prediction").to_pylist()
    if pa.types.is_floating(expected.schema.field("prediction").type):
        np.testing.assert_allclose(predictions, batch, rtol=1e-6)
    else:
        assert predictions == batch
        for name in [n for n in expected.column_names if n.startswith("probability_")]:
            served = [p[name.removeprefix("probability_")] for p in probabilities if p is not None]
            np.testing.assert_allclose(served, expected.column(name).to_numpy(), rtol=0, atol=1e-6)
    # AND what the model saw is captured as the curated data holds it (every record delivered as JSON)
    assert service.captures.flush()
    sink = run.deps.captures
    assert isinstance(sink, FakeCaptureSink) and service.captures.failed == 0
    captured = [r["inputs"] for r in sink.records if r["kind"] == "captures"][-len(rows) :]
    if model == "survey":
        assert {r["occupation"] for r in captured} == {"1", "2", "3", "4", "5", "6", None}
        assert {type(r["age"]) for r in captured} == {int, type(None)}
