"""Side by side: slipway's online feature store vs Feast's DynamoDB online store, both against one local DynamoDB
endpoint (moto's threaded server on 127.0.0.1, with the local cloud's DynamoDB patches, in this process).

Same data for both: one view of ``--features`` float features keyed by one entity id (``customer_id``),
``--entities`` entities with one row each, event times over the last 10 days, as one Parquet file. Then:

  materialisation (rows/s into the online store), ``--repeats`` rounds (the tools alternate; the median is
  reported), each run into views of its own:
    slipway  ``newest_per_entity`` + ``DynamoOnlineStore.write_newer`` (read first, then conditional
             TransactWriteItems of 100: newest event time wins), the rows in memory; then a replay of the same
             records; and the whole ``materialise_view`` step (S3 upload → validated → offline Parquet → online →
             view version and lineage) into a second view
    Feast    ``FeatureStore.write_to_online_store`` of the DataFrame (unconditional BatchWriteItem), then again;
             and ``FeatureStore.materialize`` (Parquet file offline store → latest per entity → online) into a
             second feature view
  online read in the infer path, 1 and 10 entities per request, ``--calls`` timed calls after ``--warmup``, the
  three readers' calls taken in turns (lockstep.py: one call at a time, the order rotated each round):
    slipway  ``with_view_values(rows, [binding], DynamoOnlineStore(client, table), now)``: what infer calls
    Feast    ``FeatureStore.get_online_features(features=[...], entity_rows=[...]).to_dict()``: what Feast's
             Python feature server calls
    floor    the bare BatchGetItem of the same keys with slipway's client: what any reader pays for the request

The server notes how long it takes to answer each request, so every figure splits into the endpoint's share and
the tool's own (everything else: building the request, HTTP, parsing, the tool's work). Every mode runs in a fresh
process of its own (Feast's in its venv: it needs pandas < 3). The script exits non-zero
unless every entity read has, from both tools and through both of each tool's materialisation paths, exactly the
values of the data. Usage:

    make bench-features     # or: .venv/bin/python bench/features/bench_features.py --feast-venv /tmp/feast-venv
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TEMPLATE = ROOT / "infra" / "template.yaml"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}


class TimedMotoServer(ThreadedMotoServer):
    """moto's threaded server that notes how long it takes to answer each request (operation, ns), so each
    tool's time splits into the endpoint's share and its own; no access-log line per request."""

    def __init__(self, port: int) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.answered: list[tuple[str, int, int]] = []  # (operation, wall-clock start, duration), ns

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def timed(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            wall, start = time.time_ns(), time.perf_counter_ns()
            body = list(app(environ, start_response))
            operation = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1] or environ["REQUEST_METHOD"]
            self.answered.append((operation, wall, time.perf_counter_ns() - start))
            return body

        self._server = make_server(self._ip_address, self._port, timed, True, request_handler=_Quiet)
        self._server_ready_event.set()
        self._server.serve_forever()


class _Quiet(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _CfnLoader(yaml.SafeLoader):
    """Reads the template's YAML, its tags (!Sub, !Ref …) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def table_definition(resource: str) -> dict[str, Any]:
    """A DynamoDB table's keys, indexes and billing exactly as the template declares them."""
    props = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)["Resources"][resource]["Properties"]
    keys = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {k: props[k] for k in keys if k in props}


def make_data(path: Path, entities: int, features: list[str], seed: int, now: datetime) -> tuple[str, str]:
    """One row per entity: normal features of varied scale, event times over the 10 days before ``now``."""
    rng = np.random.default_rng(seed)
    back = rng.integers(60 * 1_000_000, 10 * 86_400 * 1_000_000, entities)
    now_us = int(now.timestamp() * 1_000_000)
    columns: dict[str, Any] = {
        "customer_id": pa.array([f"C{n:06d}" for n in range(entities)]),
        "event_time": pa.array(now_us - back, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    }
    for i, name in enumerate(features):
        columns[name] = pa.array(rng.normal(10.0 * i, 1.0 + i, entities))
    table = pa.table(columns)
    pq.write_table(table, path)
    times = table.column("event_time")
    return pc.min(times).as_py().isoformat(), pc.max(times).as_py().isoformat()


def entity_sets(entities: int, size: int, count: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[f"C{n:06d}" for n in rng.choice(entities, size, replace=False)] for _ in range(count)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _side_env() -> dict[str, str]:
    env = {**os.environ, **CREDENTIALS}
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def _files(script: str, mode: str, config: dict[str, Any], work: Path, tag: str = "") -> tuple[Path, Path]:
    config_path = work / f"{script}-{mode}{tag}.json"
    config_path.write_text(json.dumps(config))
    return config_path, work / f"{script}-{mode}{tag}.out.json"


def run_side(python: str, script: str, mode: str, config: dict[str, Any], work: Path, tag: str = "") -> dict[str, Any]:
    """One mode of one side in a fresh process; its figures."""
    config_path, out_path = _files(script, mode, config, work, tag)
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(HERE / script), mode, str(config_path), str(out_path)],
        env=_side_env(),
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{script} {mode} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    print(f"  {script} {mode}: {time.perf_counter() - started:.1f} s (process)", flush=True)
    return dict(json.loads(out_path.read_text()))


def run_in_turns(sides: list[tuple[str, str, str]], config: dict[str, Any], work: Path) -> list[dict[str, Any]]:
    """Several (python, script, mode) read sides, each in a fresh process, their timed calls taken in turns: one
    call of one process at a time, the order of the processes rotated at each round (lockstep.py)."""
    started = time.perf_counter()
    procs, outs = [], []
    for n, (python, script, mode) in enumerate(sides):
        config_path, out_path = _files(script, mode, config, work, tag=f"-{n}")
        log = (work / f"{script}-{mode}-{n}.log").open("w")
        procs.append(
            subprocess.Popen(
                [python, str(HERE / script), mode, str(config_path), str(out_path)],
                env=_side_env(),
                cwd=work,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        )
        outs.append((out_path, log))

    def answer(n: int, expected: str) -> None:
        line = procs[n].stdout.readline()  # type: ignore[union-attr]
        if line != expected:
            for p in procs:
                p.kill()
            log = outs[n][1]
            log.flush()
            sys.exit(
                f"{sides[n][1]} {sides[n][2]} said {line!r}, not {expected!r}:\n{Path(log.name).read_text()[-6000:]}"
            )

    for n in range(len(procs)):
        answer(n, "ready\n")
    for call in range(len(config["entity_sets"])):
        for k in range(len(procs)):
            n = (call + k) % len(procs)
            procs[n].stdin.write("go\n")  # type: ignore[union-attr]
            procs[n].stdin.flush()  # type: ignore[union-attr]
            answer(n, "done\n")
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
    results = []
    for (_, script, mode), proc, (out_path, log) in zip(sides, procs, outs, strict=True):
        if proc.wait() != 0:
            log.flush()
            sys.exit(f"{script} {mode} failed ({proc.returncode}):\n{Path(log.name).read_text()[-6000:]}")
        log.close()
        results.append(dict(json.loads(out_path.read_text())))
    names = ", ".join(f"{script} {mode}" for _, script, mode in sides)
    print(f"  {names} in turns: {time.perf_counter() - started:.1f} s", flush=True)
    return results


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


class Endpoint:
    """What the server spent answering the requests that arrived in a window of wall-clock time."""

    def __init__(self, answered: list[tuple[str, int, int]]) -> None:
        self._starts = [t for _, t, _ in answered]
        self._answered = answered

    def ns(self, start: int, end: int) -> int:
        lo, hi = bisect.bisect_left(self._starts, start), bisect.bisect_left(self._starts, end)
        return sum(d for _, _, d in self._answered[lo:hi])

    def requests(self, start: int, end: int) -> Counter[str]:
        lo, hi = bisect.bisect_left(self._starts, start), bisect.bisect_left(self._starts, end)
        return Counter(op for op, _, _ in self._answered[lo:hi])


def materialised(rows: int, window: list[int], endpoint: Endpoint) -> dict[str, Any]:
    seconds = (window[1] - window[0]) / 1e9
    server = endpoint.ns(*window) / 1e9
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "endpoint_s": server,
        "own_s": seconds - server,
        "requests": dict(endpoint.requests(*window)),
    }


MATERIALISATIONS = ("slipway", "slipway_replay", "slipway_step", "feast", "feast_replay", "feast_materialize")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median speed, with every run's rows/s beside it."""
    chosen = sorted(runs, key=lambda r: r["rows_per_s"])[len(runs) // 2]
    return {**chosen, "runs_rows_per_s": [r["rows_per_s"] for r in runs]}


def reads(calls: list[list[int]], endpoint: Endpoint) -> dict[str, Any]:
    """p50/p99 of each call's time (ms), and its split: the endpoint's answer and the tool's own work."""
    total = sorted(ns / 1e6 for _, ns in calls)
    server = [endpoint.ns(start, start + ns) / 1e6 for start, ns in calls]
    own = sorted(ns / 1e6 - s for (_, ns), s in zip(calls, server, strict=True))
    return {
        "calls": len(calls),
        "p50_ms": statistics.median(total),
        "p99_ms": percentile(total, 0.99),
        "endpoint_p50_ms": statistics.median(server),
        "own_p50_ms": statistics.median(own),
        "own_p99_ms": percentile(own, 0.99),
        "requests": dict(sum((endpoint.requests(start, start + ns) for start, ns in calls), Counter())),
    }


def check_values(
    source: pq.ParquetFile, features: list[str], answers: dict[str, dict[str, list[Any]]]
) -> tuple[int, list[str]]:
    """Every answer against the data, exactly (floats compared as the same float): (entities checked, problems)."""
    table = source.read()
    ids = table.column("customer_id").to_pylist()
    truth = dict(zip(ids, zip(*(table.column(f).to_pylist() for f in features), strict=True), strict=True))
    problems: list[str] = []
    checked: set[str] = set()
    for who, values in answers.items():
        for entity, got in values.items():
            checked.add(entity)
            if list(truth[entity]) != got:
                wrong = [f for f, a, b in zip(features, truth[entity], got, strict=True) if a != b]
                problems.append(f"{who}: {entity} differs in {len(wrong)} features, e.g. {wrong[:3]}")
    return len(checked), problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feast-venv", default="/tmp/feast-venv", help="the venv of requirements-feast.txt")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--calls", type=int, default=500, help="timed online reads per case")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--repeats", type=int, default=3, help="materialisation rounds (the median is reported)")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    feast_python = str(Path(args.feast_venv) / "bin" / "python")
    if not Path(feast_python).exists():
        sys.exit(f"no Feast venv at {args.feast_venv}: make /tmp/feast-venv/.installed (or make bench-features)")

    from slipway_local import dynamodb as local_dynamodb

    local_dynamodb.install()  # the local cloud's DynamoDB: atomic requests, transactions cost what they touch
    port = free_port()
    server = TimedMotoServer(port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    features = [f"f{i:02d}" for i in range(args.features)]
    load = os.getloadavg()
    print(f"moto server at {url}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
            work = Path(tmp)
            parquet = work / "view.parquet"
            event_range = make_data(parquet, args.entities, features, args.seed, datetime.now(UTC))
            config: dict[str, Any] = {
                "region": REGION,
                "endpoint": url,
                "parquet": str(parquet),
                "features": features,
                "event_range": event_range,
                "slipway_table": "slipway-bench-online",
                "slipway_view": "bench",
                "slipway_step_view": "bench-step",
                "raw_bucket": "slipway-bench-raw",
                "lake_bucket": "slipway-bench-lake",
                "artifacts_bucket": "slipway-bench-artifacts",
                "metadata_table": "slipway-bench-metadata",
                "feast_repo": str(work / "feast_repo"),
                "feast_project": "bench",
                "feast_view": "bench",
                "feast_materialized_view": "bench_materialized",
                "warmup": args.warmup,
            }
            aws = boto3.Session(
                aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
            )  # setting up the slipway side's resources as its stack would: not timed
            dynamodb = aws.client("dynamodb", endpoint_url=url)
            dynamodb.create_table(TableName=config["slipway_table"], **table_definition("OnlineTable"))
            dynamodb.create_table(TableName=config["metadata_table"], **table_definition("MetadataTable"))
            s3 = aws.client("s3", endpoint_url=url)
            for bucket in ("raw_bucket", "lake_bucket", "artifacts_bucket"):
                s3.create_bucket(Bucket=config[bucket])
                s3.put_bucket_versioning(Bucket=config[bucket], VersioningConfiguration={"Status": "Enabled"})

            slipway, feast = sys.executable, feast_python
            print(f"materialisation, {args.repeats} rounds:", flush=True)
            results: dict[str, Any] = {"entities": args.entities, "features": args.features, "load": load}
            rounds = [
                {
                    **config,
                    "slipway_view": f"bench-r{r}",
                    "slipway_step_view": f"bench-step-r{r}",
                    "feast_view": f"bench_r{r}",
                    "feast_materialized_view": f"bench_materialized_r{r}",
                }
                for r in range(args.repeats)
            ]
            config["feast_all_views"] = [v for c in rounds for v in (c["feast_view"], c["feast_materialized_view"])]
            run_side(feast, "feast_side.py", "apply", config, work)
            figures: dict[str, list[Any]] = {k: [] for k in MATERIALISATIONS}
            written: list[list[int]] = []
            for r, case in enumerate(rounds):  # the tools alternate, each run into views of its own
                mine = run_side(slipway, "slipway_side.py", "materialise", case, work, tag=f"-r{r}")
                theirs = run_side(feast, "feast_side.py", "write", case, work, tag=f"-r{r}")
                step = run_side(slipway, "slipway_side.py", "step", case, work, tag=f"-r{r}")
                theirs_mat = run_side(feast, "feast_side.py", "materialize", case, work, tag=f"-r{r}")
                endpoint = Endpoint(list(server.answered))
                windows = {
                    "slipway": mine["window"],
                    "slipway_replay": mine["replay_window"],
                    "slipway_step": step["window"],
                    "feast": theirs["window"],
                    "feast_replay": theirs["replay_window"],
                    "feast_materialize": theirs_mat["window"],
                }
                for name, window in windows.items():
                    figures[name].append(materialised(args.entities, window, endpoint))
                written.append([mine["written"], mine["replay_written"], step["written"]])
            results["materialisation"] = {name: median_run(runs) for name, runs in figures.items()}
            results["slipway_written"] = written
            config = rounds[0]  # the reads: the views of the first round

            print("online reads:", flush=True)
            answers: dict[str, dict[str, list[Any]]] = {}
            for size in (1, 10):
                sets = entity_sets(args.entities, size, args.warmup + args.calls, args.seed + size)
                case = {**config, "entity_sets": sets}
                mine, theirs, bare = run_in_turns(
                    [
                        (slipway, "slipway_side.py", "read"),
                        (feast, "feast_side.py", "read"),
                        (slipway, "slipway_side.py", "floor"),
                    ],
                    case,
                    work,
                )
                endpoint = Endpoint(list(server.answered))
                results[f"read_{size}"] = {
                    "slipway": reads(mine["calls"], endpoint),
                    "feast": reads(theirs["calls"], endpoint),
                    "floor": reads(bare["calls"], endpoint),
                }
                answers[f"slipway read of {size}"] = mine["values"]
                answers[f"slipway read of {size} (whole step's view)"] = mine["step_values"]
                answers[f"Feast read of {size}"] = theirs["values"]
                answers[f"Feast read of {size} (materialized view)"] = theirs["materialized_values"]
            checked, problems = check_values(pq.ParquetFile(parquet), features, answers)
            results["checked_entities"], results["problems"] = checked, problems
    finally:
        server.stop()

    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if problems:
        print("\nVALUES DIFFER:\n" + "\n".join(problems[:20]), file=sys.stderr)
        return 1
    return 0


def report(results: dict[str, Any]) -> None:
    n, m = results["entities"], results["materialisation"]
    print(f"\nmaterialisation, {n:,} entities × {results['features']} features, the median of the rounds")
    print("| | slipway rows/s (s; endpoint s) | Feast rows/s (s; endpoint s) | ratio slipway ÷ Feast |")
    print("|---|---:|---:|---:|")
    rows = [
        ("rows in memory → online store", m["slipway"], m["feast"]),
        ("the same rows again (a replay)", m["slipway_replay"], m["feast_replay"]),
        ("whole path from the stored file", m["slipway_step"], m["feast_materialize"]),
    ]
    for label, mine, theirs in rows:
        cells = [f"{r['rows_per_s']:,.0f} ({r['seconds']:.2f}; {r['endpoint_s']:.2f})" for r in (mine, theirs)]
        print(f"| {label} | {cells[0]} | {cells[1]} | {mine['rows_per_s'] / theirs['rows_per_s']:.2f}× |")
    for first, replay, step in results["slipway_written"]:
        print(f"(slipway wrote {first:,} items, then {replay} on the replay; the whole step wrote {step:,})")
    for name, r in m.items():
        runs = ", ".join(f"{v:,.0f}" for v in r["runs_rows_per_s"])
        print(f"  {name}: rows/s of each round {runs}; requests of the median round {r['requests']}")
    print(f"\nonline read, {results['features']} features, ms per request ({n:,} entities in each table)")
    print(
        "| entities | slipway p50 / p99 | Feast p50 / p99 | ratio Feast ÷ slipway (p50) "
        "| endpoint p50: slipway / Feast | own p50: slipway / Feast (ratio) | bare BatchGetItem p50 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in (1, 10):
        r = results[f"read_{size}"]
        s, f, b = r["slipway"], r["feast"], r["floor"]
        print(
            f"| {size} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} | {f['p50_ms']:.2f} / {f['p99_ms']:.2f} "
            f"| {f['p50_ms'] / s['p50_ms']:.2f}× | {s['endpoint_p50_ms']:.2f} / {f['endpoint_p50_ms']:.2f} "
            f"| {s['own_p50_ms']:.2f} / {f['own_p50_ms']:.2f} ({f['own_p50_ms'] / s['own_p50_ms']:.1f}×) "
            f"| {b['p50_ms']:.2f} |"
        )
        print(f"  requests: slipway {s['requests']}, Feast {f['requests']}")
    print(f"\nvalues checked: {results['checked_entities']:,} entities, {len(results['problems'])} differences")


if __name__ == "__main__":
    sys.exit(main())
