"""Feature domain: spec checks, model inputs, transforms, deterministic splits, a preprocessor fitted on train only."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

from slipway.domain.features import (
    FeatureInput,
    build_preprocessor,
    feature_columns,
    feature_set_id,
    fit_features,
    model_input_columns,
    model_input_frame,
    model_input_from_records,
    split_rows,
)
from slipway.domain.model_input import MISSING_DAYS
from slipway.domain.transforms import Clip, DateParts, Log1p, OneHotTop, Ratio, Standardize
from slipway.spec import DataContract
from slipway.spec.features import FeaturesSpec, SplitSpec, check_features

CHURN_CONTRACT = DataContract.model_validate(
    {
        "target": "churned",
        "timestamp": "signup_date",
        "entity_id": "customer_id",
        "sensitive": ["gender"],
        "columns": [
            {"name": "customer_id", "type": "string"},
            {"name": "signup_date", "type": "timestamp"},
            {"name": "email", "type": "string", "pii": "hash"},
            {"name": "phone", "type": "string", "pii": "drop"},
            {"name": "age", "type": "int"},
            {"name": "gender", "type": "category"},
            {"name": "region", "type": "category"},
            {"name": "plan", "type": "category"},
            {"name": "tenure_months", "type": "int"},
            {"name": "monthly_charges", "type": "float"},
            {"name": "total_charges", "type": "float"},
            {"name": "support_calls", "type": "int"},
            {"name": "avg_session_minutes", "type": "float", "nullable": True},
            {"name": "has_autopay", "type": "bool"},
            {"name": "churned", "type": "int"},
        ],
    }
)

# Every transform kind, a chain (log then standardize) and defaults for plan (one-hot) and has_autopay.
FEATURES = FeaturesSpec.model_validate(
    {
        "exclude": ["gender"],
        "transforms": [
            {"kind": "standardize", "columns": ["age", "monthly_charges", "avg_session_minutes"]},
            {"kind": "log", "columns": ["total_charges"]},
            {"kind": "standardize", "columns": ["total_charges"]},
            {"kind": "clip", "columns": ["support_calls"], "max": 5},
            {"kind": "bucketize", "columns": ["tenure_months"], "bins": 4},
            {"kind": "one_hot", "columns": ["region"], "max_categories": 3},
            {"kind": "date_parts", "columns": ["signup_date"], "parts": ["year", "month", "day", "dayofweek"]},
            {"kind": "ratio", "numerator": "total_charges", "denominator": "tenure_months", "name": "charge_per_month"},
        ],
    }
)
REGIONS = ["north", "south", "east", "west", "central"]


def churn_table(n_rows: int = 400, seed: int = 1) -> pa.Table:
    """A curated churn table as the validate step writes it: typed columns, hashed email, phone dropped."""
    rng = np.random.default_rng(seed)
    signup = datetime(2018, 1, 1, tzinfo=UTC) + pd.to_timedelta(rng.integers(0, 8 * 365 * 86400, n_rows), unit="s")
    tenure = rng.integers(0, 100, n_rows)
    monthly = np.round(rng.uniform(10, 120, n_rows), 2)
    session = np.round(rng.gamma(2.0, 8.0, n_rows), 1)
    calls = rng.poisson(2.0, n_rows)
    logit = -1.0 + 0.4 * calls - 0.03 * tenure + 0.01 * monthly + rng.normal(0, 0.5, n_rows)
    return pa.table(
        {
            "customer_id": [f"C{i:06d}" for i in range(n_rows)],
            "signup_date": pa.array(signup.to_numpy(), pa.timestamp("us", tz="UTC")),
            "email": [hashlib.sha256(f"user{i}".encode()).hexdigest() for i in range(n_rows)],
            "age": pa.array(rng.integers(18, 90, n_rows), pa.int64()),
            "gender": rng.choice(["female", "male", "nonbinary"], n_rows),
            "region": rng.choice(REGIONS, n_rows, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "plan": rng.choice(["basic", "standard", "premium"], n_rows),
            "tenure_months": pa.array(tenure, pa.int64()),
            "monthly_charges": monthly,
            "total_charges": np.round(monthly * tenure, 2),
            "support_calls": pa.array(calls, pa.int64()),
            "avg_session_minutes": pa.array(session, mask=rng.random(n_rows) < 0.1),
            "has_autopay": rng.random(n_rows) < 0.6,
            "churned": pa.array((rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)),
        }
    )


def contract(*columns: dict[str, Any]) -> DataContract:
    return DataContract.model_validate({"columns": list(columns), "target": columns[0]["name"]})


# --- spec -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        ({"kind": "standardize", "columns": ["nope"]}, "'nope' is not declared"),
        ({"kind": "log", "columns": ["plan"]}, "'plan' is category; log needs int or float"),
        ({"kind": "one_hot", "columns": ["age"]}, "'age' is int; one_hot needs string or category"),
        ({"kind": "date_parts", "columns": ["age"]}, "'age' is int; date_parts needs timestamp"),
        ({"kind": "standardize", "columns": ["churned"]}, "'churned' is the target"),
        ({"kind": "one_hot", "columns": ["customer_id"]}, "'customer_id' is the entity id"),
        ({"kind": "one_hot", "columns": ["email"]}, r"'email' is PII \(hash\)"),
        ({"kind": "one_hot", "columns": ["gender"]}, "'gender' is in features.exclude"),
        ({"kind": "ratio", "numerator": "age", "denominator": "plan", "name": "r"}, "'plan' is category"),
        ({"kind": "ratio", "numerator": "age", "denominator": "tenure_months", "name": "plan"}, "'plan' is already"),
    ],
)
def test_feature_spec_rejects_unusable_columns_by_name(transform: dict[str, Any], message: str) -> None:
    # GIVEN a features section with one transform that the churn contract does not allow
    features = FeaturesSpec.model_validate({"exclude": ["gender"], "transforms": [transform]})
    # WHEN it is checked against the contract THEN the error names the column and the reason
    with pytest.raises(ValueError, match=message):
        check_features(features, CHURN_CONTRACT)


def test_feature_spec_rejects_a_transform_after_one_hot_and_an_unknown_exclude() -> None:
    # GIVEN bucketize followed by standardize on one column, and an exclude naming no column
    chained = FeaturesSpec.model_validate(
        {"transforms": [{"kind": "bucketize", "columns": ["age"]}, {"kind": "standardize", "columns": ["age"]}]}
    )
    # WHEN / THEN both are refused, naming the column
    with pytest.raises(ValueError, match="'age' is already bucketize-encoded"):
        chained.check_against(CHURN_CONTRACT)
    with pytest.raises(ValueError, match="'ghost' is not declared"):
        FeaturesSpec(exclude=["ghost"]).check_against(CHURN_CONTRACT)
    # AND the full example spec passes
    FEATURES.check_against(CHURN_CONTRACT)


def test_split_spec_rules() -> None:
    # GIVEN split sections WHEN parsed THEN time needs a column and valid + test leaves train at least 20%
    assert SplitSpec() == SplitSpec(method="random", seed=42, valid=0.2, test=0.2)
    with pytest.raises(ValidationError, match="needs column"):
        SplitSpec(method="time")
    with pytest.raises(ValidationError, match=r"below 0\.8"):
        SplitSpec(valid=0.4, test=0.4)
    with pytest.raises(ValueError, match="'gender' is category"):
        SplitSpec(method="time", column="gender").check_against(CHURN_CONTRACT)
    # AND an unknown transform kind is refused by the discriminated union
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        FeaturesSpec.model_validate({"transforms": [{"kind": "pca", "columns": ["age"]}]})


# --- inputs ---------------------------------------------------------------------------------------------------


def test_feature_columns_skip_target_entity_pii_and_excluded() -> None:
    # GIVEN the churn contract WHEN its feature inputs are listed
    inputs = feature_columns(CHURN_CONTRACT, FEATURES)
    # THEN target, entity id, hashed and dropped PII and excluded gender are absent; bool is numeric
    assert [(i.name, i.kind) for i in inputs] == [
        ("signup_date", "timestamp"),
        ("age", "numeric"),
        ("region", "categorical"),
        ("plan", "categorical"),
        ("tenure_months", "numeric"),
        ("monthly_charges", "numeric"),
        ("total_charges", "numeric"),
        ("support_calls", "numeric"),
        ("avg_session_minutes", "numeric"),
        ("has_autopay", "numeric"),
    ]


INPUTS = [
    FeatureInput("n", "numeric"),
    FeatureInput("flag", "numeric"),
    FeatureInput("c", "categorical"),
    FeatureInput("ts", "timestamp"),
]
ROWS_TABLE = pa.table(
    {
        "n": pa.array([1, None, 3], pa.int64()),
        "flag": [True, False, None],
        "c": ["a", None, "b"],
        "ts": pa.array(
            [datetime(1970, 1, 2, 23, tzinfo=UTC), None, datetime(1969, 12, 31, 6, tzinfo=UTC)],
            pa.timestamp("us", tz="UTC"),
        ),
    }
)


def test_model_input_frame_types_and_nulls() -> None:
    # GIVEN a curated table with a null in every column WHEN turned into the model input frame
    frame = model_input_frame(ROWS_TABLE, INPUTS)
    # THEN numbers are float32 with NaN, strings have "" for null, timestamps are whole days since 1970 (floor),
    # a missing one the smallest int64 (MISSING_DAYS), which the model's fill replaces
    assert [str(t) for t in frame.dtypes] == ["float32", "float32", "object", "int64"]
    np.testing.assert_array_equal(frame["n"], np.array([1, np.nan, 3], np.float32))
    np.testing.assert_array_equal(frame["flag"], np.array([1, 0, np.nan], np.float32))
    assert frame["c"].tolist() == ["a", "", "b"]
    assert frame["ts"].tolist() == [1, MISSING_DAYS, -1]
    # AND a pandas frame of the same data gives the same model input
    pd.testing.assert_frame_equal(model_input_frame(ROWS_TABLE.to_pandas(), INPUTS), frame)


def test_records_give_the_same_model_input_as_the_table() -> None:
    # GIVEN the churn rows as JSON-like dicts (timestamps as ISO strings, some keys missing)
    table = churn_table(50)
    inputs = feature_columns(CHURN_CONTRACT, FEATURES)
    records = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if v is not None}
        for row in table.to_pylist()
    ]
    # WHEN both are converted
    from_records = model_input_from_records(records, inputs)
    expected = model_input_columns(model_input_frame(table, inputs), inputs)
    # THEN every column is the same (n, 1) array, and the frame built from records is equal too
    assert from_records.keys() == expected.keys()
    for name, column in expected.items():
        assert from_records[name].shape == (50, 1) and from_records[name].dtype == column.dtype
        np.testing.assert_array_equal(from_records[name], column)
    pd.testing.assert_frame_equal(model_input_frame(records, inputs), model_input_frame(table, inputs))
    assert model_input_from_records([{"ts": "1969-12-31T23:00:00-02:00"}], INPUTS)["ts"].tolist() == [[0]]
    with pytest.raises(ValueError, match="row 0: column 'n'"):
        model_input_from_records([{"n": "abc"}], INPUTS)


# --- transforms -----------------------------------------------------------------------------------------------


def test_transform_values() -> None:
    # GIVEN small inputs WHEN each transform is fitted and applied THEN the values are the textbook ones
    x = np.array([[-5.0], [0.0], [1.0], [np.e - 1]])
    np.testing.assert_allclose(Log1p().fit_transform(x).ravel(), [0, 0, np.log(2), 1])
    np.testing.assert_array_equal(Clip(min=0, max=10).fit_transform([[-1.0], [5.0], [11.0]]).ravel(), [0, 5, 10])
    np.testing.assert_array_equal(Clip(max=2).fit_transform([[-7.0], [3.0]]).ravel(), [-7, 2])
    ratio = Ratio(name="per_month").fit([[6.0, 3.0], [1.0, 0.0], [-4.0, 2.0]])
    np.testing.assert_array_equal(ratio.transform([[6.0, 3.0], [1.0, 0.0], [-4.0, 2.0]]).ravel(), [2, 0, -2])
    assert ratio.get_feature_names_out(["a", "b"]).tolist() == ["per_month"]
    scaler = Standardize().fit(np.array([[1.0, 5.0], [3.0, 5.0]], np.float32))
    assert scaler.mean_.tolist() == [2.0, 5.0] and scaler.scale_.tolist() == [1.0, 1.0]
    out = scaler.transform(np.array([[1.0, 5.0], [5.0, 6.0]], np.float32))
    assert out.dtype == np.float32 and out.tolist() == [[-1.0, 0.0], [3.0, 1.0]]


def test_date_parts_match_the_calendar() -> None:
    # GIVEN days since 1970 across five centuries, leap days and the epoch's neighbours
    special = [date(1970, 1, 1), date(1969, 12, 31), date(2000, 2, 29), date(1900, 3, 1), date(2100, 2, 28)]
    rng = np.random.default_rng(0)
    days = np.concatenate([[(d - date(1970, 1, 1)).days for d in special], rng.integers(-150_000, 150_000, 500)])
    # WHEN DateParts computes them
    parts = DateParts(parts=["year", "month", "day", "dayofweek"]).fit_transform(days.reshape(-1, 1))
    # THEN they equal Python's calendar (weekday: Monday = 0)
    calendar = [date(1970, 1, 1) + timedelta(days=int(d)) for d in days]
    expected = [[d.year, d.month, d.day, d.weekday()] for d in calendar]
    assert parts.tolist() == expected
    assert parts[0].tolist() == [1970, 1, 1, 3]  # a Thursday


def test_one_hot_top_keeps_frequent_categories() -> None:
    # GIVEN a column with 4 categories and max_categories=3
    encoder = OneHotTop(max_categories=3).fit(np.array([["a"]] * 5 + [["b"]] * 3 + [["c"], ["d"]], dtype=object))
    # WHEN rows with a kept, a rare and an unseen value are encoded
    out = encoder.transform(np.array([["a"], ["b"], ["c"], ["zzz"]], dtype=object))
    # THEN the two most frequent get their own column and the rest share "infrequent"
    assert encoder.get_feature_names_out(["plan"]).tolist() == ["plan_a", "plan_b", "plan_infrequent"]
    assert out.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]
    # AND without a cut, unseen values are all zeros
    small = OneHotTop(max_categories=3).fit(np.array([["a"], ["b"]], dtype=object))
    assert small.transform(np.array([["b"], ["new"]], dtype=object)).tolist() == [[0, 1], [0, 0]]


# --- split ----------------------------------------------------------------------------------------------------


def test_random_split_is_deterministic_disjoint_and_complete() -> None:
    # GIVEN 1,000 rows and the default split WHEN split twice
    first, again = split_rows(None, SplitSpec(), 1000), split_rows(None, SplitSpec(), 1000)
    # THEN the same indices come back, sized 60/20/20, disjoint and covering every row
    for part in ("train", "valid", "test"):
        np.testing.assert_array_equal(first[part], again[part])
    assert [len(first[p]) for p in ("train", "valid", "test")] == [600, 200, 200]
    assert np.array_equal(np.sort(np.concatenate(list(first.values()))), np.arange(1000))
    # AND another seed gives another split
    assert not np.array_equal(split_rows(None, SplitSpec(seed=7), 1000)["test"], first["test"])


def test_time_split_trains_on_the_oldest_rows() -> None:
    # GIVEN a table with shuffled signup dates WHEN split by time
    table = churn_table(300)
    rows = split_rows(table, SplitSpec(method="time", column="signup_date", valid=0.1, test=0.3), table.num_rows)
    when = table.column("signup_date").to_numpy()
    # THEN every train row is older than every valid row, which is older than every test row
    assert when[rows["train"]].max() <= when[rows["valid"]].min()
    assert when[rows["valid"]].max() <= when[rows["test"]].min()
    assert [len(rows[p]) for p in ("train", "valid", "test")] == [180, 30, 90]


# --- preprocessor and fit -------------------------------------------------------------------------------------


def test_preprocessor_is_fitted_on_train_rows_only() -> None:
    # GIVEN the churn table WHEN features are fitted
    table = churn_table(400)
    fitted = fit_features(table, CHURN_CONTRACT, FEATURES, SplitSpec(seed=3))
    # THEN the age scaler's mean is the train mean, not the mean of all rows
    age = table.column("age").to_numpy().astype(float)
    scaler = next(
        (est.named_steps["standardize"], cols.index("age"))
        for _, est, cols in fitted.preprocessor_.transformers_
        if "age" in cols
    )
    assert scaler[0].mean_[scaler[1]] == pytest.approx(age[fitted.split["train"]].mean())
    assert abs(age[fitted.split["train"]].mean() - age.mean()) > 1e-3
    # AND the train matrix has mean 0 for age while the test matrix does not
    column = fitted.feature_names.index("age")
    assert abs(fitted.transformed["train"][:, column].mean()) < 1e-5
    assert abs(fitted.transformed["test"][:, column].mean()) > 1e-3


def test_fit_features_outputs() -> None:
    # GIVEN the churn table WHEN features are fitted
    table = churn_table(400)
    fitted = fit_features(table, CHURN_CONTRACT, FEATURES, SplitSpec())
    # THEN each split has a float32 matrix with one column per feature name, and its targets
    assert {k: v.shape for k, v in fitted.transformed.items()} == {
        "train": (240, len(fitted.feature_names)),
        "valid": (80, len(fitted.feature_names)),
        "test": (80, len(fitted.feature_names)),
    }
    assert all(m.dtype == np.float32 and not np.isnan(m).any() for m in fitted.transformed.values())
    churned = table.column("churned").to_numpy()
    np.testing.assert_array_equal(fitted.target["test"], churned[fitted.split["test"]])
    # AND the names show each treatment: dates, infrequent regions, default plan one-hot, ratio, bool as is
    for name in ("signup_date_dayofweek", "region_infrequent", "plan_premium", "charge_per_month", "has_autopay"):
        assert name in fitted.feature_names
    assert "gender_female" not in fitted.feature_names and "email" not in fitted.feature_names


def test_defaults_for_inputs_without_transforms() -> None:
    # GIVEN inputs with no spec transforms WHEN the preprocessor is fitted
    frame = model_input_frame(ROWS_TABLE, INPUTS)
    pre = build_preprocessor(INPUTS, FeaturesSpec()).fit(frame)
    # THEN numbers are median-imputed, categories filled with "(missing)" and one-hot (unknown → zeros),
    # timestamps median-filled and give year/month/weekday
    assert pre.get_feature_names_out().tolist() == [
        "n",
        "flag",
        "c_(missing)",
        "c_a",
        "c_b",
        "ts_year",
        "ts_month",
        "ts_dayofweek",
    ]
    unseen = pd.DataFrame({"n": [np.nan], "flag": [1.0], "c": ["zzz"], "ts": [0]}).astype({"n": "float32"})
    assert pre.transform(unseen).tolist() == [[2.0, 1.0, 0, 0, 0, 1970, 1, 3]]


def test_feature_set_id_is_stable_and_tracks_the_spec() -> None:
    # GIVEN a dataset version, features, split and inputs
    inputs = feature_columns(CHURN_CONTRACT, FEATURES)
    first = feature_set_id("d" * 64, FEATURES, SplitSpec(), inputs)
    # WHEN computed again or with something changed THEN equal inputs give equal ids, any change a new one
    assert first == feature_set_id("d" * 64, FeaturesSpec.model_validate(FEATURES.model_dump()), SplitSpec(), inputs)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    changed = {
        feature_set_id("e" * 64, FEATURES, SplitSpec(), inputs),
        feature_set_id("d" * 64, FEATURES, SplitSpec(seed=1), inputs),
        feature_set_id("d" * 64, FeaturesSpec(exclude=["gender"]), SplitSpec(), inputs),
        feature_set_id("d" * 64, FEATURES, SplitSpec(), inputs[:-1]),
    }
    assert first not in changed and len(changed) == 4
