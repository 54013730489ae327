"""The sample churn table: deterministic, clean against specs/churn.yaml, and broken on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.domain.tables import read_upload
from slipway.domain.validation import validate_table
from slipway.spec import load_spec
from slipway_cli.samples import CORRUPTIONS, corrupt, make_churn, to_csv_bytes, to_parquet_bytes, write_csv

CHURN_SPEC = Path(__file__).resolve().parents[2] / "specs" / "churn.yaml"


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    first, again, other = make_churn(2_000, seed=9), make_churn(2_000, seed=9), make_churn(2_000, seed=10)
    assert first.equals(again)
    assert to_csv_bytes(first) == to_csv_bytes(again)
    assert not first.equals(other)


def test_sample_looks_like_churn_data() -> None:
    df = make_churn()  # the demo's default: 12,000 rows, seed 7

    assert df.shape == (12_000, 18)
    assert df["customer_id"].is_unique and df["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert 0.20 <= df["churned"].mean() <= 0.30
    assert set(df["churned"].unique()) == {0, 1}
    assert df["age"].between(18, 90).all() and df["discount_pct"].between(0, 50).all()
    # churn is learnable: month-to-month customers with many support calls churn far more
    risky = (df["contract_type"] == "month-to-month") & (df["support_calls"] >= 3)
    assert df.loc[risky, "churned"].mean() > 2 * df.loc[~risky, "churned"].mean()


@pytest.mark.parametrize(("encode", "key"), [(to_csv_bytes, "churn/a.csv"), (to_parquet_bytes, "churn/a.parquet")])
def test_clean_sample_meets_the_churn_contract(encode: object, key: str) -> None:
    churn = load_spec(CHURN_SPEC.read_text()).data
    table = read_upload(encode(make_churn(n_rows=1_000, seed=21)), key, contract=churn)  # type: ignore[operator]

    typed, report = validate_table(table, churn)

    assert report.ok, report.to_dict()
    assert typed.num_rows == 1_000 and typed.schema.names == churn.names


def test_corrupted_sample_fails_with_the_expected_checks() -> None:
    churn = load_spec(CHURN_SPEC.read_text()).data
    clean = make_churn(n_rows=2_000, seed=12)
    broken = corrupt(clean, seed=12)

    _, report = validate_table(read_upload(to_csv_bytes(broken), "churn/b.csv", contract=churn), churn)

    assert {(f.column, f.check): f.count for f in report.failures} == CORRUPTIONS
    assert "plan" in clean.columns  # the original is left alone
    assert corrupt(clean, seed=12).equals(broken)


def test_write_csv(tmp_path: Path) -> None:
    df = make_churn(1_000, seed=1)
    path = write_csv(df, tmp_path / "sample.csv")
    assert path.read_bytes() == to_csv_bytes(df)
    assert path.read_text().splitlines()[0].startswith("customer_id,signup_date,email,age,gender")
