"""Feast's side of bench/features, one mode per process, run by bench_features.py with the Feast venv's Python
(requirements-feast.txt). Never imported by slipway. Modes:

  apply        the repo's entity and its feature views (two per repetition) registered (a file registry), which
               creates their DynamoDB tables at the endpoint (Feast's ``DynamoDBOnlineStore.update``); not timed
  write        ``FeatureStore.write_to_online_store`` of the rows (a DataFrame in memory) into one view: unconditional
               batch writes (BatchWriteItem through boto3's ``batch_writer``); then the same rows again
  materialize  ``FeatureStore.materialize`` of the other view over the rows' time range: the file offline store
               reads the Parquet, keeps each entity's latest row, and writes it as ``write`` does
  read         ``FeatureStore.get_online_features(...).to_dict()`` (what Feast's Python feature server calls) for one
               request's entities, timed

Each mode reads its settings from a JSON file and writes its figures to another."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64
from lockstep import turns


def _store(config: dict[str, Any]) -> FeatureStore:
    repo = Path(config["feast_repo"])
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        f"""project: {config["feast_project"]}
registry: {repo / "registry.db"}
provider: local
online_store:
  type: dynamodb
  region: {config["region"]}
  endpoint_url: {config["endpoint"]}
offline_store:
  type: file
entity_key_serialization_version: 3
"""
    )
    return FeatureStore(repo_path=str(repo))


def _objects(config: dict[str, Any]) -> list[Any]:
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    source = FileSource(path=config["parquet"], timestamp_field="event_time")
    schema = [Field(name=f, dtype=Float64) for f in config["features"]]
    views = [
        FeatureView(name=name, entities=[customer], ttl=timedelta(days=30), schema=schema, source=source, online=True)
        for name in config["feast_all_views"]
    ]
    return [customer, *views]


def apply(config: dict[str, Any]) -> dict[str, Any]:
    store = _store(config)
    store.apply(_objects(config))
    return {"tables": [f"{config['feast_project']}.{v}" for v in config["feast_all_views"]]}


def write(config: dict[str, Any]) -> dict[str, Any]:
    store = _store(config)
    frame = pd.read_parquet(config["parquet"])  # in memory before the clock starts, as slipway's rows are
    windows = []
    for _ in range(2):  # the rows, then the same rows again
        start = time.time_ns()
        store.write_to_online_store(config["feast_view"], frame)
        windows.append([start, time.time_ns()])
    return {"rows": len(frame), "window": windows[0], "replay_window": windows[1]}


def materialize(config: dict[str, Any]) -> dict[str, Any]:
    store = _store(config)
    first, last = (datetime.fromisoformat(t) for t in config["event_range"])
    start = time.time_ns()
    store.materialize(
        start_date=first - timedelta(seconds=1),
        end_date=last + timedelta(seconds=1),
        feature_views=[config["feast_materialized_view"]],
    )
    return {"window": [start, time.time_ns()]}


def _fetch(store: FeatureStore, refs: list[str], entities: list[str], features: list[str]) -> list[Any]:
    answer = store.get_online_features(features=refs, entity_rows=[{"customer_id": e} for e in entities]).to_dict()
    if answer["customer_id"] != entities:
        raise SystemExit("Feast answered other entities than asked")
    return [[answer[f][i] for f in features] for i in range(len(entities))]


def read(config: dict[str, Any]) -> dict[str, Any]:
    store = _store(config)
    features = config["features"]
    refs = [f"{config['feast_view']}:{f}" for f in features]
    warmup = config["warmup"]
    calls: list[list[int]] = []  # [wall-clock start, duration] of each timed call, ns
    values: dict[str, list[Any]] = {}
    for n, entities in turns(config["entity_sets"]):
        wall, start = time.time_ns(), time.perf_counter_ns()
        got = _fetch(store, refs, entities, features)
        elapsed = time.perf_counter_ns() - start
        if n >= warmup:
            calls.append([wall, elapsed])
        values.update(zip(entities, got, strict=True))
    # not timed: the same entities through the view that materialize wrote
    refs = [f"{config['feast_materialized_view']}:{f}" for f in features]
    materialized: dict[str, list[Any]] = {}
    for entities in config["entity_sets"]:
        materialized.update(zip(entities, _fetch(store, refs, entities, features), strict=True))
    return {"calls": calls, "values": values, "materialized_values": materialized}


MODES = {"apply": apply, "write": write, "materialize": materialize, "read": read}

if __name__ == "__main__":
    mode, config_path, out_path = sys.argv[1:4]
    result = MODES[mode](json.loads(Path(config_path).read_text()))
    Path(out_path).write_text(json.dumps(result))
