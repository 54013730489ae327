"""slipway's side of bench/features, one mode per process (run by bench_features.py from the .venv):

  materialise  ``newest_per_entity`` + ``DynamoOnlineStore.write_newer`` over the upload's rows (held in memory,
               as the materialise step holds its validated table), in the step's batches of 10,000 records;
               then the same records again (a replay: read, none written)
  step         the whole ``materialise_view`` step on the local endpoint's S3 and DynamoDB: the upload read
               from the raw bucket, validated, kept offline as Parquet by event date, written online, the
               view version and lineage recorded
  read         ``with_view_values`` (what infer calls before the model) for one request's entities, timed
  floor        the bare BatchGetItem of the same keys with the same client, unparsed (the endpoint's share)

Each mode reads its settings from a JSON file and writes its figures to another."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from lockstep import turns

from slipway import layout
from slipway.adapters import clients
from slipway.adapters.online import DynamoOnlineStore
from slipway.domain.feature_views import newest_per_entity
from slipway.serving.views import ViewBinding, with_view_values
from slipway.spec.feature_view import FeatureViewSpec, load_view

ONLINE_BATCH = 10_000  # the materialise step's batch (steps/features/materialise_view.py)
KEY_TYPES = {"customer_id": "string"}


def view_yaml(name: str, features: list[str]) -> str:
    columns = "\n".join(f"  - {{name: {f}, type: float}}" for f in features)
    return f"""name: {name}
entity: [customer_id]
timestamp: event_time
ttl: 30d
columns:
  - {{name: customer_id, type: string}}
  - {{name: event_time, type: timestamp}}
{columns}
"""


def _view(config: dict[str, Any], name: str) -> FeatureViewSpec:
    return load_view(view_yaml(name, config["features"]))


def _client(config: dict[str, Any]) -> Any:
    """The DynamoDB client infer's composition root makes (one botocore session, slipway's retry config)."""
    return clients.client("dynamodb", config["region"], config["endpoint"])


def materialise(config: dict[str, Any]) -> dict[str, Any]:
    table = pq.read_table(config["parquet"])  # what the step holds after validation; read not timed
    view = _view(config, config["slipway_view"])
    store = DynamoOnlineStore(_client(config), config["slipway_table"])
    features = [f.name for f in view.features]

    def write() -> tuple[int, int, list[int]]:
        start = time.time_ns()
        records = newest_per_entity(
            table,
            view=view.name,
            entity=view.entity,
            entity_types=["string"],
            timestamp=view.timestamp,
            features=features,
            version=1,
            ttl_s=view.ttl_seconds,
        )
        written = sum(store.write_newer(records[i : i + ONLINE_BATCH]) for i in range(0, len(records), ONLINE_BATCH))
        return len(records), written, [start, time.time_ns()]

    entities, written, window = write()
    _, replayed, replay_window = write()
    return {
        "rows": table.num_rows,
        "entities": entities,
        "written": written,
        "window": window,
        "replay_written": replayed,
        "replay_window": replay_window,
    }


def step(config: dict[str, Any]) -> dict[str, Any]:
    from slipway.composition import aws_deps
    from slipway.objects import S3Object
    from slipway.settings import Settings
    from slipway.steps.features.materialise_view import materialise_view
    from slipway.stores.feature_views import push_view

    settings = Settings(
        env="bench",
        region=config["region"],
        raw_bucket=config["raw_bucket"],
        lake_bucket=config["lake_bucket"],
        artifacts_bucket=config["artifacts_bucket"],
        metadata_table=config["metadata_table"],
        endpoint_url=config["endpoint"],
        online_table=config["slipway_table"],
    )
    deps = aws_deps(settings)
    view = _view(config, config["slipway_step_view"])
    push_view(deps, view_yaml(view.name, config["features"]))
    raw = deps.store.put_bytes(
        S3Object(bucket=settings.raw_bucket, key=f"views/{view.name}/upload.parquet"),
        Path(config["parquet"]).read_bytes(),
    )  # the data engineer's upload: not timed
    start = time.time_ns()
    done = materialise_view(deps, raw, f"bench-{view.name}")
    return {"rows": done["rows"], "written": done["written"], "window": [start, time.time_ns()]}


def _fetch(store: DynamoOnlineStore, binding: ViewBinding, entities: list[str], features: list[str]) -> list[Any]:
    rows = [{"customer_id": e} for e in entities]
    filled, findings = with_view_values(rows, [binding], store, time.time())
    if findings:
        raise SystemExit(f"slipway left features unfilled: {findings[:3]}")
    return [[row[f] for f in features] for row in filled]


def read(config: dict[str, Any]) -> dict[str, Any]:
    features = config["features"]
    store = DynamoOnlineStore(_client(config), config["slipway_table"])

    def binding(name: str) -> ViewBinding:
        view = _view(config, name)
        return ViewBinding.of(view.binding(features, "bench"), KEY_TYPES)

    timed_binding = binding(config["slipway_view"])
    sets: list[list[str]] = config["entity_sets"]
    warmup = config["warmup"]
    calls: list[list[int]] = []  # [wall-clock start, duration] of each timed call, ns
    values: dict[str, list[Any]] = {}
    for n, entities in turns(sets):
        wall, start = time.time_ns(), time.perf_counter_ns()
        got = _fetch(store, timed_binding, entities, features)
        elapsed = time.perf_counter_ns() - start
        if n >= warmup:
            calls.append([wall, elapsed])
        values.update(zip(entities, got, strict=True))
    # not timed: the same entities through the view the whole step wrote
    step_binding = binding(config["slipway_step_view"])
    step_values: dict[str, list[Any]] = {}
    for entities in sets:
        step_values.update(zip(entities, _fetch(store, step_binding, entities, features), strict=True))
    return {"calls": calls, "values": values, "step_values": step_values}


def floor(config: dict[str, Any]) -> dict[str, Any]:
    client = _client(config)
    view = config["slipway_view"]
    calls: list[list[int]] = []
    for n, entities in turns(config["entity_sets"]):
        request = {config["slipway_table"]: {"Keys": [{"pk": {"S": layout.online_key(view, e)}} for e in entities]}}
        wall, start = time.time_ns(), time.perf_counter_ns()
        answer = client.batch_get_item(RequestItems=request)
        elapsed = time.perf_counter_ns() - start
        if len(answer["Responses"][config["slipway_table"]]) != len(set(entities)):
            raise SystemExit("the bare BatchGetItem missed items")
        if n >= config["warmup"]:
            calls.append([wall, elapsed])
    return {"calls": calls}


MODES = {"materialise": materialise, "step": step, "read": read, "floor": floor}

if __name__ == "__main__":
    mode, config_path, out_path = sys.argv[1:4]
    result = MODES[mode](json.loads(Path(config_path).read_text()))
    Path(out_path).write_text(json.dumps(result))
