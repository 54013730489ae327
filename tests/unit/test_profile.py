"""Column profiles: the numbers a person reads and drift later compares against."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from slipway.domain.profile import bin_fractions, decile_edges, profile_table
from slipway.domain.validation import apply_pii, validate_table
from slipway.spec import ColumnSpec, DataContract, load_spec
from slipway_cli.samples import make_churn

CHURN_SPEC = Path(__file__).resolve().parents[2] / "specs" / "churn.yaml"


def _contract(*columns: dict[str, object]) -> DataContract:
    """Profiles do not look at the target; a nullable first column (refused as a target) is made so after the
    spec's checks."""
    first = {**columns[0], "nullable": False}
    checked = DataContract.model_validate({"columns": [first, *columns[1:]], "target": first["name"]})
    return checked.model_copy(update={"columns": [ColumnSpec.model_validate(columns[0]), *checked.columns[1:]]})


def test_numeric_profile() -> None:
    # GIVEN 0..99 with one null WHEN profiled
    data = _contract({"name": "x", "type": "float", "nullable": True})
    profile = profile_table(pa.table({"x": [*map(float, range(100)), None]}), data)["x"]

    # THEN count, nulls, moments and quantiles are numpy's, with ten bins of about equal mass
    assert profile["kind"] == "numeric"
    assert (profile["count"], profile["nulls"], profile["min"], profile["max"]) == (100, 1, 0.0, 99.0)
    assert profile["mean"] == pytest.approx(49.5) and profile["std"] == pytest.approx(np.std(np.arange(100)))
    assert profile["quantiles"] == pytest.approx(
        {"p01": 0.99, "p05": 4.95, "p25": 24.75, "p50": 49.5, "p75": 74.25, "p95": 94.05, "p99": 98.01}
    )
    assert profile["bins"] == [0.0, 9.0, 19.0, 29.0, 39.0, 49.0, 59.0, 69.0, 79.0, 89.0, 99.0]  # values from the data
    assert profile["bin_fractions"] == pytest.approx([0.09] + [0.1] * 8 + [0.11])


def test_ties_merge_bins_and_a_constant_column_has_one() -> None:
    data = _contract({"name": "k", "type": "int"}, {"name": "c", "type": "int"})
    table = pa.table({"k": [0] * 80 + [1] * 10 + [2] * 10, "c": [7] * 100})

    profile = profile_table(table, data)

    assert profile["k"]["bins"] == [0.0, 1.0, 2.0]
    assert profile["k"]["bin_fractions"] == [0.8, 0.2]
    assert (profile["c"]["bins"], profile["c"]["bin_fractions"]) == ([7.0, 7.0], [1.0])


def test_bin_fractions_of_new_data_use_the_reference_bins() -> None:
    # GIVEN reference bins WHEN new values (some beyond the reference range) are binned
    edges = decile_edges(np.arange(100, dtype=float))
    shifted = bin_fractions(np.array([-50.0, 5.0, 95.0, 500.0]), edges)

    # THEN out-of-range values count in the outer bins, and sorted input gives the same answer
    assert shifted == [0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]
    values = np.random.default_rng(0).normal(50, 30, 1_000)
    assert bin_fractions(np.sort(values), edges, is_sorted=True) == pytest.approx(bin_fractions(values, edges))


def test_categorical_profile_top_values_by_share() -> None:
    data = _contract({"name": "c", "type": "category", "nullable": True}, {"name": "b", "type": "bool"})
    table = pa.table({"c": ["b", "a", "a", None, "c", "a", "b", "d"], "b": [True] * 6 + [False] * 2})

    profile = profile_table(table, data)

    assert profile["c"] == {
        "kind": "categorical",
        "count": 7,
        "nulls": 1,
        "distinct": 4,
        "top": {"a": 3 / 7, "b": 2 / 7, "c": 1 / 7, "d": 1 / 7},
    }
    assert list(profile["c"]["top"]) == ["a", "b", "c", "d"]
    assert profile["b"]["top"] == {"true": 0.75, "false": 0.25}


def test_top_keeps_the_fifty_most_frequent() -> None:
    data = _contract({"name": "c", "type": "string"})
    values = [f"v{i:03d}" for i in range(120) for _ in range(i + 1)]
    top = profile_table(pa.table({"c": values}), data)["c"]["top"]
    assert len(top) == 50 and next(iter(top)) == "v119" and "v069" not in top


def test_timestamp_profile_is_iso_text() -> None:
    data = _contract({"name": "t", "type": "timestamp", "nullable": True})
    column = pa.array(
        [datetime(2024, 3, 1, tzinfo=UTC), None, datetime(2025, 1, 2, 3, tzinfo=UTC)], pa.timestamp("us", tz="UTC")
    )
    assert profile_table(pa.table({"t": column}), data)["t"] == {
        "kind": "timestamp",
        "count": 2,
        "nulls": 1,
        "min": "2024-03-01T00:00:00+00:00",
        "max": "2025-01-02T03:00:00+00:00",
    }


def test_churn_profile_is_json_and_keeps_pii_out() -> None:
    # GIVEN a curated churn sample (emails hashed) WHEN profiled
    churn = load_spec(CHURN_SPEC.read_text()).data
    typed, _ = validate_table(pa.Table.from_pandas(make_churn(n_rows=3_000, seed=4)), churn)
    curated = apply_pii(typed, churn, salt="s")
    profile = profile_table(curated, churn)

    # THEN every column is profiled, the hashed one only by counts, and it all round-trips JSON
    assert list(profile) == churn.names
    assert profile["email"] == {"kind": "hashed", "count": 3_000, "nulls": 0, "distinct": 3_000}
    assert profile["age"]["kind"] == "numeric" and 18 <= profile["age"]["min"] <= profile["age"]["max"] <= 90
    assert sum(profile["age"]["bin_fractions"]) == pytest.approx(1.0)
    assert set(profile["plan"]["top"]) == {"basic", "standard", "premium"}
    assert profile["avg_session_minutes"]["nulls"] > 0
    assert json.loads(json.dumps(profile, allow_nan=False)) == profile
    assert profile_table(curated, churn) == profile  # same data, same profile


def test_empty_numeric_column() -> None:
    data = _contract({"name": "x", "type": "float", "nullable": True})
    profile = profile_table(pa.table({"x": pa.array([None, None], pa.float64())}), data)["x"]
    assert (profile["count"], profile["nulls"], profile["mean"], profile["bins"]) == (0, 2, None, [])
