"""Helpers for the step unit tests on the in-memory fakes: small data (600 churn rows), a churn spec
with two cheap candidates, and each step driven as its handler drives it — the request contract built
from the JSON of the previous step's output, exactly as the state machine passes it on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.contracts.training import (
    DatasetVersion,
    EvaluateRequest,
    EvaluateResult,
    FeaturesRequest,
    FeaturesResult,
    RegisteredModel,
    RegisterRequest,
    TrainRequest,
    TrainResult,
)
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.steps.training.build_features import build_features
from slipway.steps.training.evaluate_challenger import evaluate_challenger
from slipway.steps.training.register_version import register_version
from slipway.steps.training.train_candidate import train_candidate
from slipway.steps.training.validate_dataset import validate_dataset
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from tests.fakes import FakeArtifactStore, FakeMetadataTable, fake_deps

SPECS = Path(__file__).resolve().parents[3] / "specs"
ROWS = 600
CHURN_CANDIDATES = """    - algorithm: logistic_regression
      grid: {C: [0.1, 1.0]}
    - algorithm: random_forest
      grid: {n_estimators: [60], max_depth: [8]}
    - algorithm: gradient_boosting
      grid: {n_estimators: [60], max_depth: [3]}"""
CHEAP_CANDIDATES = """    - algorithm: logistic_regression
      grid: {C: [0.1, 1.0]}"""


def spec_text(name: str = "churn", replace: dict[str, str] | None = None) -> str:
    """specs/churn.yaml as ``name``, sized for unit tests (min_rows 100, two logistic-regression
    candidates), with more text replaced (each piece must be present)."""
    text = (SPECS / "churn.yaml").read_text().replace("name: churn", f"name: {name}", 1)
    for old, new in {"min_rows: 1000": "min_rows: 100", CHURN_CANDIDATES: CHEAP_CANDIDATES, **(replace or {})}.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def data_only_spec(name: str) -> str:
    """The churn spec's data contract alone: no features, training or gates sections."""
    text = spec_text(name)
    return text[: text.index("\nfeatures:")] + "\n"


def churn_csv(n_rows: int = ROWS, seed: int = 7) -> bytes:
    return to_csv_bytes(make_churn(n_rows=n_rows, seed=seed))


def upload(deps: Deps, key: str, body: bytes) -> S3Object:
    """Put an object into the raw bucket as a user's upload; returns it pinned to its version."""
    return deps.store.put_bytes(S3Object(bucket=deps.settings.raw_bucket, key=key), body)


# ---------------------------------------------------------------- requests, as the state machine builds them


def features_request(run_id: str, dataset: DatasetVersion) -> FeaturesRequest:
    return FeaturesRequest.from_event({"run_id": run_id, "dataset": dataset.model_dump(mode="json")})


def train_requests(run_id: str, features: FeaturesResult) -> list[TrainRequest]:
    """One request per Map iteration over the candidates."""
    fs = features.feature_set.model_dump(mode="json")
    return [
        TrainRequest.from_event({"run_id": run_id, "feature_set": fs, "candidate": c.model_dump(mode="json")})
        for c in features.candidates
    ]


def evaluate_request(
    run_id: str, dataset: DatasetVersion, features: FeaturesResult, trained: list[TrainResult]
) -> EvaluateRequest:
    return EvaluateRequest.from_event(
        {
            "run_id": run_id,
            "dataset": dataset.model_dump(mode="json"),
            "feature_set": features.feature_set.model_dump(mode="json"),
            "trained": [t.model_dump(mode="json") for t in trained],
        }
    )


def register_request(
    run_id: str, dataset: DatasetVersion, features: FeaturesResult, evaluation: EvaluateResult
) -> RegisterRequest:
    return RegisterRequest.from_event(
        {
            "run_id": run_id,
            "dataset": dataset.model_dump(mode="json"),
            "feature_set": features.feature_set.model_dump(mode="json"),
            "evaluation": evaluation.model_dump(mode="json"),
        }
    )


@dataclass
class Run:
    """What one pipeline run produced, step by step (``None`` for steps not run)."""

    run_id: str
    raw: S3Object
    dataset: DatasetVersion
    features: FeaturesResult
    trained: list[TrainResult] = field(default_factory=list)
    evaluation: EvaluateResult | None = None
    registered: RegisteredModel | None = None

    @property
    def evaluated(self) -> EvaluateResult:
        assert self.evaluation is not None, f"{self.run_id} was not evaluated"
        return self.evaluation


def run_pipeline(deps: Deps, run_id: str, key: str, body: bytes, *, until: str = "evaluate") -> Run:
    """Upload ``body`` under ``key`` and drive validate → features → train (every candidate) →
    evaluate (→ register when ``until`` is "register")."""
    raw = upload(deps, key, body)
    dataset = validate_dataset(deps, raw, run_id)
    run = Run(run_id, raw, dataset, build_features(deps, features_request(run_id, dataset)))
    if until == "features":
        return run
    run.trained = [train_candidate(deps, r) for r in train_requests(run_id, run.features)]
    if until == "train":
        return run
    run.evaluation = evaluate_challenger(deps, evaluate_request(run_id, run.dataset, run.features, run.trained))
    if until == "register":
        run.registered = register_version(deps, register_request(run_id, run.dataset, run.features, run.evaluation))
    return run


# ---------------------------------------------------------------- what a user would count


def stored_versions(deps: Deps) -> dict[tuple[str, str], int]:
    """Every object in the fake buckets with its number of stored versions."""
    store = deps.store
    assert isinstance(store, FakeArtifactStore)
    buckets = (deps.settings.raw_bucket, deps.settings.lake_bucket, deps.settings.artifacts_bucket)
    return {(b, k): len(store.versions(S3Object(bucket=b, key=k))) for b in buckets for k in store.keys(b)}


def table_keys(deps: Deps) -> set[tuple[str, str]]:
    table = deps.table
    assert isinstance(table, FakeMetadataTable)
    return set(table.items)


def store_keys(deps: Deps, bucket: str, prefix: str = "") -> list[str]:
    store = deps.store
    assert isinstance(store, FakeArtifactStore)
    return store.keys(bucket, prefix)


# ---------------------------------------------------------------- shared, expensive state (fork it to change it)


@dataclass(frozen=True)
class Pipeline:
    deps: Deps
    run: Run


def spec_pushed(name: str = "churn", replace: dict[str, str] | None = None) -> Deps:
    """Fresh fakes with one spec pushed."""
    deps = fake_deps()
    push_spec(deps, spec_text(name, replace))
    return deps


def item_of(deps: Deps, key: tuple[str, str]) -> dict[str, Any]:
    found = deps.table.get(*key)
    assert found is not None, f"no item at {key}"
    return found


# ---------------------------------------------------------------- scikit-learn's handwritten digits, as a user's table

PIXELS = [f"p{i}" for i in range(64)]


def digits_spec(name: str, target: str, labels: list[int], training: str) -> str:
    """The spec a user writes for scikit-learn's digits (64 pixel intensities, floats 0–16) with an int ``target``
    taking ``labels``, and ``training`` (the training section's lines, indented two spaces)."""
    columns = "\n".join(f"    - {{name: {p}, type: float, min: 0, max: 16}}" for p in PIXELS)
    allowed = ", ".join(map(str, labels))
    return (
        f"name: {name}\ndata:\n  target: {target}\n  min_rows: 100\n  columns:\n{columns}\n"
        f"    - {{name: {target}, type: int, allowed: [{allowed}]}}\nfeatures: {{}}\ntraining:\n{training}"
    )


def digits_frame(target: str, label: Any) -> Any:
    """The 1,797 digits as a frame: the pixels and ``target``, ``label(digit)`` of each row's digit."""
    import pandas as pd
    from sklearn.datasets import load_digits

    data = load_digits()
    frame = pd.DataFrame(data.data, columns=PIXELS)
    frame[target] = [label(int(d)) for d in data.target]
    return frame
