"""A deterministic customer-churn table (and a deliberately broken copy) for the demo, the tests and
`slipway sample churn`, which writes it for an upload to a real account."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CORRUPTIONS",
    "churn_outcomes",
    "corrupt",
    "make_churn",
    "to_csv_bytes",
    "to_parquet_bytes",
    "write_csv",
    "write_sample",
]

REFERENCE_DATE = pd.Timestamp("2026-11-01", tz="UTC")
FIRST_SIGNUP = pd.Timestamp("2018-01-01", tz="UTC")
PLANS = {"basic": 25.0, "standard": 55.0, "premium": 95.0}
CONTRACTS = ["month-to-month", "one-year", "two-year"]
REGIONS = ["north", "south", "east", "west", "central"]
GENDERS = ["female", "male", "nonbinary"]
_NAMES = ["ana", "ben", "chen", "dara", "eli", "fatima", "goran", "hana", "ivan", "jo", "kemal", "lea", "mo", "nia"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]

# (column, check) -> rows that ``corrupt`` breaks that way; validation must report each of them.
CORRUPTIONS: dict[tuple[str, str], int] = {
    ("age", "type"): 5,  # non-numeric strings
    ("age", "max"): 3,  # 150
    ("monthly_charges", "min"): 4,  # negative
    ("tenure_months", "not_null"): 6,  # nulls in a non-nullable column
    ("email", "regex"): 3,  # not an email address
    ("plan", "missing_column"): 1,  # the column is gone
}


def _categorical(values: np.ndarray, categories: list[str]) -> pd.Categorical:
    return pd.Categorical(values, categories=categories)


def make_churn(n_rows: int = 12_000, seed: int = 7) -> pd.DataFrame:
    """``n_rows`` customers; ``churned`` follows a noisy logistic model of the other columns.

    Same ``n_rows`` and ``seed`` give an equal frame. About a quarter of customers churn.
    """
    if not 0 < n_rows < 1_000_000:
        raise ValueError("n_rows must be between 1 and 999,999 (customer ids have six digits)")
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1, 1_000_000), size=n_rows, replace=False)
    span_s = int((REFERENCE_DATE - FIRST_SIGNUP).total_seconds())
    signup = FIRST_SIGNUP + pd.to_timedelta(rng.integers(0, span_s, n_rows), unit="s")
    tenure = ((REFERENCE_DATE - signup).days // 30).to_numpy().astype(np.int64)
    plan = rng.choice(list(PLANS), n_rows, p=[0.5, 0.35, 0.15])
    contract = rng.choice(CONTRACTS, n_rows, p=[0.55, 0.25, 0.2])
    monthly = np.round(np.maximum(np.vectorize(PLANS.get)(plan) + rng.normal(0, 8, n_rows), 10.0), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.uniform(0.9, 1.05, n_rows), 2)
    support_calls = rng.poisson(1.5, n_rows)
    logins = rng.poisson(12, n_rows)
    session = np.round(rng.gamma(2.0, 8.0, n_rows), 1)
    session[rng.random(n_rows) < 0.02] = np.nan  # nullable: some sessions were never measured
    autopay = rng.random(n_rows) < 0.6
    late = np.minimum(rng.poisson(0.6, n_rows), 12)
    discount = np.where(rng.random(n_rows) < 0.6, 0.0, np.round(rng.uniform(5, 50, n_rows), 1))
    age = np.clip(np.round(rng.normal(45, 15, n_rows)), 18, 90).astype(np.int64)

    logit = _churn_logit(contract, tenure, support_calls, logins, late, monthly, autopay, discount) + rng.normal(
        0, 0.6, n_rows
    )
    churned = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    names = rng.choice(_NAMES, n_rows)
    domains = rng.choice(_DOMAINS, n_rows)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in ids],
            "signup_date": signup.as_unit("us"),
            "email": [f"{n}.{i}@{d}" for n, i, d in zip(names, ids, domains, strict=True)],
            "age": age,
            "gender": _categorical(rng.choice(GENDERS, n_rows, p=[0.49, 0.49, 0.02]), GENDERS),
            "region": _categorical(rng.choice(REGIONS, n_rows), REGIONS),
            "plan": _categorical(plan, list(PLANS)),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls.astype(np.int64),
            "num_logins_30d": logins.astype(np.int64),
            "avg_session_minutes": session,
            "has_autopay": autopay,
            "contract_type": _categorical(contract, CONTRACTS),
            "late_payments_12m": late.astype(np.int64),
            "discount_pct": discount,
            "churned": churned,
        }
    )


def _churn_logit(
    contract: np.ndarray,
    tenure: np.ndarray,
    support_calls: np.ndarray,
    logins: np.ndarray,
    late: np.ndarray,
    monthly: np.ndarray,
    autopay: np.ndarray,
    discount: np.ndarray,
) -> np.ndarray:
    """The churn model's log-odds before its noise (make_churn adds noise, then draws)."""
    return np.asarray(
        -0.1
        + 1.3 * (contract == "month-to-month")
        - 0.035 * tenure
        + 0.45 * support_calls
        - 0.06 * logins
        + 0.55 * late
        + 0.012 * (monthly - 55.0)
        - 0.7 * autopay
        - 0.02 * discount
    )


def churn_outcomes(rows: list[dict[str, object]], seed: int) -> list[int]:
    """Whether each customer churned, drawn from the same model as ``make_churn``'s (with its noise): the ground
    truth that arrives later for served customers, whatever their features became (shifted ones too)."""
    frame = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    logit = _churn_logit(
        frame["contract_type"].to_numpy(dtype=object),
        frame["tenure_months"].to_numpy(dtype=np.int64),
        frame["support_calls"].to_numpy(dtype=np.int64),
        frame["num_logins_30d"].to_numpy(dtype=np.int64),
        frame["late_payments_12m"].to_numpy(dtype=np.int64),
        frame["monthly_charges"].to_numpy(dtype=np.float64),
        frame["has_autopay"].to_numpy(dtype=bool),
        frame["discount_pct"].to_numpy(dtype=np.float64),
    ) + rng.normal(0, 0.6, len(frame))
    return [int(x) for x in rng.random(len(frame)) < 1.0 / (1.0 + np.exp(-logit))]


def corrupt(df: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """A copy with every fault in ``CORRUPTIONS``, each on its own rows (needs ≥ 21 rows)."""
    rng = np.random.default_rng(seed)
    broken = df.copy()
    rows = iter(np.split(rng.permutation(len(df))[:21], np.cumsum([5, 3, 4, 6])))
    age = broken["age"].astype(str).to_numpy(dtype=object)
    age[next(rows)] = ["abc", "unknown", "n/a", "4o", "forty"]
    age[next(rows)] = "150"
    broken["age"] = age
    broken.loc[next(rows), "monthly_charges"] = -12.5
    tenure = broken["tenure_months"].astype("float64")
    tenure.iloc[next(rows)] = np.nan
    broken["tenure_months"] = tenure
    email = broken["email"].to_numpy(dtype=object)
    email[next(rows)] = ["not-an-email", "bob(at)example.com", "eve@"]
    broken["email"] = email
    return broken.drop(columns=["plan"])


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV, as a data engineer would export it."""
    return str(df.to_csv(index=False)).encode("utf-8")


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the frame as CSV to ``path`` and return the path."""
    target = Path(path)
    target.write_bytes(to_csv_bytes(df))
    return target


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """The frame as Parquet bytes (categories become dictionary columns)."""
    sink = io.BytesIO()
    df.to_parquet(sink, index=False)
    return sink.getvalue()


def write_sample(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the frame to ``path`` as CSV or Parquet, chosen by its suffix; returns the path."""
    target = Path(path)
    encoders = {".csv": to_csv_bytes, ".parquet": to_parquet_bytes}
    if target.suffix.lower() not in encoders:
        raise ValueError(f"{target.name}: the sample is written as .csv or .parquet")
    target.write_bytes(encoders[target.suffix.lower()](df))
    return target
