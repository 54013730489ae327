"""FLAML's side of bench/automl (run in the automl venv): AutoML with a time budget on each table's training CSV,
scored on its holdout CSV. Prints one JSON object per table.

    python bench/automl/flaml_side.py TABLES_DIR BUDGET_S [NAME ...]
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score, root_mean_squared_error


def score(metric: str, truth: pd.Series, model: object, X: pd.DataFrame) -> float:
    if metric == "roc_auc":
        return float(roc_auc_score(truth, model.predict_proba(X)[:, 1]))  # type: ignore[attr-defined]
    if metric == "accuracy":
        return float(accuracy_score(truth.astype(str), pd.Series(model.predict(X)).astype(str)))  # type: ignore[attr-defined]
    return float(root_mean_squared_error(truth, model.predict(X)))  # type: ignore[attr-defined]


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def main() -> None:
    from flaml import AutoML

    warnings.filterwarnings("ignore")
    tables, budget = Path(sys.argv[1]), float(sys.argv[2])
    meta = json.loads((tables / "meta.json").read_text())
    for name in sys.argv[3:] or list(meta):
        info = meta[name]
        train = pd.read_csv(tables / f"{name}.train.csv")
        holdout = pd.read_csv(tables / f"{name}.holdout.csv")
        target = info["target"]
        for frame in (train, holdout):  # FLAML takes pandas categories as categorical features
            for column, spec in info["columns"].items():
                if column != target and spec["type"] == "category":
                    frame[column] = frame[column].astype("category")
        automl = AutoML()
        started = time.perf_counter()
        automl.fit(
            train.drop(columns=target),
            train[target],
            task=info["task"],
            metric={"roc_auc": "roc_auc", "accuracy": "accuracy", "rmse": "rmse"}[info["metric"]],
            time_budget=budget,
            seed=7,
            verbose=0,
            n_jobs=2,
        )
        wall = time.perf_counter() - started
        value = score(info["metric"], holdout[target], automl, holdout.drop(columns=target))
        print(
            json.dumps(
                {
                    "table": name,
                    "metric": info["metric"],
                    "value": value,
                    "wall_s": round(wall, 2),
                    "best": automl.best_estimator,
                    "config": {k: _plain(v) for k, v in automl.best_config.items()},
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
