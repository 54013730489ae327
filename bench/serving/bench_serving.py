"""Serving, side by side on one model: slipway's infer function vs `mlflow models serve`.

The churn model (specs/churn.yaml, `make_churn` sample) is trained once, through the training state
machine of the local cloud (in-process moto), and set as `production`. Then, on one JSON row:

  (a) in-process, warm: the model call alone (onnxruntime ``session.run``; ``ServedModel.predict``,
      which adds the row → arrays conversion) and the whole ``lambda_handler`` on an API Gateway
      HTTP API v2 event; p50/p99 over ``--calls`` calls each, plus the pieces between them.
  (b) HTTP: the local cloud's HTTP API (SigV4-signed, as the template requires IAM) vs
      `mlflow models serve` (1 worker, its own venv) of the same pipeline logged with
      ``mlflow.sklearn``; keep-alive http.client clients in another process, 1 and 8 at once,
      ``--requests`` one-row requests each run: requests/s, p50, p99.
  (c) cold start, fresh process → first prediction: functions/infer/app.py with its real ports
      (boto3 against the local cloud's moto endpoint), from the .venv and from the `sam build`
      output (as shipped: the layers' Makefiles compile .pyc; and with every module compiled), vs
      pandas + scikit-learn + the skops pipeline.
  (d) size: `sam build` of InferFunction, the function and its two layers unzipped.

    .venv/bin/python bench/serving/bench_serving.py                      # everything
    .venv/bin/python bench/serving/bench_serving.py --skip mlflow build   # no peer, no build
    make bench-serving                                                   # creates the MLflow venv first

MLflow runs from ``--mlflow-venv`` (default /tmp/mlflow-venv, see requirements-mlflow.txt); the
build goes to ``--build-dir`` (default /tmp/sam-build-serving), never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPEC = ROOT / "specs" / "churn.yaml"
MODEL = "churn"
PREDICT = f"/v1/models/{MODEL}/predict"
SAM = ROOT / ".venv-sam" / "bin" / "sam"


# ---------------------------------------------------------------------------------------------- figures
def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def timed(fn: Callable[[], Any], calls: int, warmup: int = 300) -> dict[str, float]:
    """p50/p99/mean of ``calls`` warm calls, in µs."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        t = clock()
        fn()
        samples.append(clock() - t)
    samples.sort()
    return {
        "p50_us": percentile(samples, 0.50) / 1000,
        "p99_us": percentile(samples, 0.99) / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------- data
def client_row(seed: int = 11) -> dict[str, Any]:
    """One churn row as a client sends it: the sample's columns (not the target), dates as ISO text."""
    import numpy as np

    from slipway_cli.samples import make_churn

    record = make_churn(n_rows=1, seed=seed).drop(columns=["churned"]).to_dict(orient="records")[0]
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, float) and np.isnan(value):
            value = None
        elif isinstance(value, np.generic):
            value = value.item()
        elif hasattr(value, "isoformat"):
            value = value.isoformat()[:10]
        row[key] = value
    return row


def http_event(body: str, request_id: str = "bench-request") -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for POST /v1/models/churn/predict (the shape of
    `sam local generate-event apigateway http-api-proxy`, as the local gateway builds it)."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "POST /v1/models/{model}/predict",
        "rawPath": PREDICT,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "content-length": str(len(body)),
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench",
            "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "111111111111",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": PREDICT,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": request_id,
            "routeKey": "POST /v1/models/{model}/predict",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": {"model": MODEL},
        "body": body,
        "isBase64Encoded": False,
    }


class Context:
    function_name = "slipway-dev-infer"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:slipway-dev-infer"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/slipway-dev-infer"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class MemorySink:
    """A capture sink that keeps a count: (a) times the handler, not moto's Firehose."""

    def __init__(self) -> None:
        self.records = 0

    def put(self, records: Any) -> None:
        self.records += len(records)


# ---------------------------------------------------------------------------------------------- training
def train(rows: int) -> tuple[Any, Any, int]:
    import logging
    import warnings

    from slipway.objects import S3Object
    from slipway.stores.registry import ModelRegistry
    from slipway.stores.specs import push_spec
    from slipway_cli.samples import make_churn, to_parquet_bytes
    from slipway_cli.target import target_in
    from slipway_local import LocalCloud

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    t = time.perf_counter()
    cloud = LocalCloud(log_level="ERROR").start(envs=("dev",))
    dev = target_in(cloud, "dev")
    push_spec(dev.deps, SPEC.read_text())
    known = {e["executionArn"] for e in cloud.executions("dev")}
    dev.client("s3").put_object(
        Bucket=dev.outputs["RawBucketName"],
        Key="churn/bench-serving.parquet",
        Body=to_parquet_bytes(make_churn(n_rows=rows, seed=7)),
    )
    described = cloud.wait_for_execution("dev", cloud.wait_for_new_execution("dev", known), timeout_s=900)
    if described["status"] != "SUCCEEDED":
        raise SystemExit(f"training {described['status']}: {described.get('cause')}")
    version = int(json.loads(described["output"])["model"]["version"])
    registry = ModelRegistry.of(dev.deps)
    registry.set_alias(MODEL, "production", version, actor="bench", reason="bench/serving")
    item = registry.get_version(MODEL, version)
    onnx = item["artifacts"].get("model.onnx", {})
    size = len(dev.deps.store.get_bytes(S3Object.parse(onnx["uri"]))) if onnx else 0
    print(f"  v{version}: {item.get('algorithm')} {item.get('params')}, ONNX {size:,} bytes")
    print(f"local cloud up, churn trained on {rows:,} rows, v{version} in production ({time.perf_counter() - t:.1f} s)")
    return cloud, dev, version


def load_app(name: str = "bench_infer_app") -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / "infer" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------- (a)
PEER_CALL = "peer: scikit-learn pipeline predict_proba, prebuilt 1-row DataFrame"


def in_process(
    dev: Any, row: dict[str, Any], calls: int, profile: bool, peer: Callable[[], Any] | None = None
) -> dict[str, Any]:
    import dataclasses

    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    from slipway.domain.model_input import model_input_from_records
    from slipway.serving.http import PredictBody
    from slipway.serving.routing import Variant
    from slipway.serving.service import InferenceService

    app = load_app()
    deps = dataclasses.replace(dev.deps, captures=MemorySink())
    app.deps = lambda: deps  # the function's own service() path, on the local cloud's registry
    body = json.dumps({"instances": [row]})
    event = http_event(body)
    context = Context()
    devnull = open(os.devnull, "w")
    with contextlib.redirect_stdout(devnull):
        first = app.lambda_handler(event, context)
    if first["statusCode"] != 200:
        raise SystemExit(f"the handler answered {first['statusCode']}: {first['body']}")
    service = app.service()
    version = service.routing(MODEL).production
    served = service.served(MODEL, version)
    feed = model_input_from_records([row], served.inputs)
    probability = float(json.loads(first["body"])["probabilities"][0]["1"])

    def emf_block() -> None:
        metrics = EphemeralMetrics(namespace="slipway", service="infer")
        metrics.add_dimension(name="model", value=MODEL)
        metrics.add_dimension(name="version", value=str(version))
        metrics.add_dimension(name="variant", value="production")
        metrics.add_metric(name="requests", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="rows", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="mean_score", unit=MetricUnit.NoUnit, value=0.5)
        metrics.add_metric(name="latency", unit=MetricUnit.Milliseconds, value=0.2)
        metrics.flush_metrics()

    emf_fields = {"model": MODEL, "version": str(version), "variant": "production", "service": "infer"}
    emf_head = {
        "Namespace": "slipway",
        "Dimensions": [list(emf_fields)],
        "Metrics": [
            {"Name": "requests", "Unit": "Count"},
            {"Name": "rows", "Unit": "Count"},
            {"Name": "mean_score", "Unit": "None"},
            {"Name": "latency", "Unit": "Milliseconds"},
        ],
    }

    def emf_line() -> None:
        """The same EMF record, written as one json.dumps of a dict (what the Powertools block prints)."""
        print(
            json.dumps(
                {
                    "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [emf_head]},
                    **emf_fields,
                    "requests": 1,
                    "rows": 1,
                    "mean_score": 0.5,
                    "latency": 0.2,
                }
            )
        )

    def resolver_route() -> dict[str, Any]:
        refused = app._refuse_before_routing(event)
        return refused or app.app.resolve(event, context)

    rows = [row]
    assigned = [Variant("production", version)]
    per_class = [{"0": 1 - probability, "1": probability}]

    class NoHandOff:
        def offer(self, records: Any) -> None:
            pass

    quiet = InferenceService(deps)  # the same service with no capture queue, hence no sender thread
    quiet.captures = NoHandOff()  # type: ignore[assignment]
    quiet.predict(MODEL, rows, "warm")

    read = served.reader.read(rows)[0]

    def capture_only() -> None:
        service._capture(
            MODEL, rows, read, assigned, [0], per_class, "r", 0.2, {assigned[0]: 0.1}, {assigned[0]: served}
        )

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("onnxruntime session.run (model call)", lambda: served.session.run(["probabilities"], feed)),
        ("ServedModel.predict (row → arrays + session.run)", lambda: served.predict(rows)),
        ("contract checks: rows read as validation reads (RowReader.read)", lambda: served.reader.read(rows)),
        (
            "InferenceService.predict (routing, checks, model, capture hand-off)",
            lambda: service.predict(MODEL, rows, "r"),
        ),
        (
            "  of which: service.served(model, version) lookup (called twice per row)",
            lambda: service.served(MODEL, version),
        ),
        ("  of which: capture records + queue hand-off (InferenceService._capture)", capture_only),
        ("  the same without the capture queue and its thread (diagnostic)", lambda: quiet.predict(MODEL, rows, "r")),
        ("pydantic PredictBody.model_validate_json", lambda: PredictBody.model_validate_json(body)),
        ("EMF metrics: EphemeralMetrics + 3 dimensions + 4 metrics + flush", emf_block),
        ("EMF metrics: the same record as one json.dumps + print", emf_line),
        (
            "EMF metrics: the handler's emitter (serialize_metric_set, dimensions set once)",
            lambda: app._emit_variant_metrics(MODEL, version, "production", (1, 1, 0.5, 0.2)),
        ),
        # the handler answers predict on its lean path; the resolver's route is still declared (OpenAPI): what the
        # request cost when the resolver answered it
        ("the resolver's predict route (app.resolve, the path before the lean one; diagnostic)", resolver_route),
        ("lambda_handler(event, context) (whole handler)", lambda: app.lambda_handler(event, context)),
    ]
    figures: dict[str, dict[str, float]] = {}
    with contextlib.redirect_stdout(devnull):
        for name, fn in steps:
            figures[name] = timed(fn, calls)
    if peer is not None:  # the same version's scikit-learn pipeline on a prebuilt 1-row DataFrame
        figures[PEER_CALL] = timed(peer, min(calls, 1000), warmup=30)
    out: dict[str, Any] = {"steps": figures, "probability": probability, "version": version, "calls": calls}
    if profile:
        out["profile"] = profile_handler(app, event, context, devnull, calls)
    return out


AREAS = (
    ("aws_lambda_powertools/event_handler/middlewares/openapi_validation", "Powertools request/response validation"),
    ("aws_lambda_powertools/event_handler/openapi", "Powertools request/response validation"),
    ("aws_lambda_powertools/event_handler", "Powertools routing, event wrapper, response"),
    ("aws_lambda_powertools/utilities/data_classes", "Powertools routing, event wrapper, response"),
    ("aws_lambda_powertools/metrics", "Powertools EMF metrics"),
    ("aws_lambda_powertools", "Powertools other (logger)"),
    ("pydantic", "pydantic"),
    ("onnxruntime", "onnxruntime session.run"),
    ("slipway/serving/rows", "slipway contract checks (rows.py)"),
    ("slipway/domain/model_input", "slipway row → arrays (model_input.py)"),
    ("slipway/serving/models", "slipway ServedModel.predict (labels, per-class dicts)"),
    ("slipway/serving/service", "slipway service (routing, grouping, capture records)"),
    ("slipway/serving/routing", "slipway service (routing, grouping, capture records)"),
    ("slipway/serving/captures", "capture hand-off (queue) and sender thread"),
    ("queue.py", "capture hand-off (queue) and sender thread"),
    ("threading.py", "capture hand-off (queue) and sender thread"),
    ("_thread.lock", "capture hand-off (queue) and sender thread"),
    ("json/", "json (event body, response, EMF)"),
    ("numpy", "numpy"),
    ("functions/infer/app", "app.py route code"),
    ("bench_serving", "bench (MemorySink)"),
)


# Threads asleep (cProfile counts wall time, in every thread): the capture sender waiting for records, the
# HTTP server waiting for connections, a keep-alive connection waiting for its next request.
BLOCKED = (
    "_thread.lock' objects>",
    "threading.py:wait",
    "queue.py:get",
    "'poll' of 'select.poll' objects>",
    "selectors.py:select",
    "'recv_into' of '_socket.socket' objects>",
)


def profile_handler(app: Any, event: dict[str, Any], context: Any, devnull: Any, calls: int) -> list[tuple[str, float]]:
    """Own time per area (cProfile tottime) over ``calls`` handler calls, as shares of the total.
    cProfile inflates Python-heavy code relative to C (onnxruntime, json): read shares, not µs."""
    import cProfile

    profiler = cProfile.Profile()
    with contextlib.redirect_stdout(devnull):
        profiler.enable()
        for _ in range(calls):
            app.lambda_handler(event, context)
        profiler.disable()
    return area_shares(profiler, AREAS)


def area_shares(profiler: Any, areas: tuple[tuple[str, str], ...]) -> list[tuple[str, float]]:
    """Own time (cProfile tottime) per area, as shares of the total."""
    import pstats

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    shares: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = f"{filename}:{function}"
        if where.endswith(BLOCKED):
            continue
        area = next((label for key, label in areas if key in where), "other (stdlib, builtins)")
        shares[area] = shares.get(area, 0.0) + tottime
        if area.startswith("other") and os.environ.get("BENCH_PROFILE_OTHER"):
            print(f"    other: {tottime:8.3f} s  {where}")
    total = sum(shares.values())
    return sorted(((a, t / total) for a, t in shares.items()), key=lambda x: -x[1])


# ---------------------------------------------------------------------------------------------- (b)
def client_main(argv: list[str]) -> None:
    """``bench_serving.py client SPEC.json``: keep-alive clients, one thread and connection each."""
    import http.client

    spec = json.loads(Path(argv[0]).read_text())
    host, port = spec["host"], spec["port"]
    clients, requests, warmup = spec["clients"], spec["requests"], spec["warmup"]
    body = spec["body"].encode()
    headers: list[dict[str, str]] = spec["headers"]  # one set per request (signed), or one for all
    per_client = requests // clients
    latencies: list[list[int]] = [[] for _ in range(clients)]
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)
    done = [0.0] * clients

    def run(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def one(k: int) -> int:
            conn.request("POST", spec["path"], body=body, headers=headers[k % len(headers)])
            response = conn.getresponse()
            response.read()
            return response.status

        base = n * (per_client + warmup)
        for k in range(warmup):
            one(base + k)
        barrier.wait()
        mine = latencies[n]
        clock = time.perf_counter_ns
        for k in range(per_client):
            t = clock()
            status = one(base + warmup + k)
            mine.append(clock() - t)
            if status != 200:
                failures.append(str(status))
        done[n] = time.perf_counter()
        conn.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = max(done) - started
    merged = sorted(x for sample in latencies for x in sample)
    result = {
        "requests": len(merged),
        "failures": len(failures),
        "wall_s": wall,
        "rps": len(merged) / wall,
        "p50_ms": percentile(merged, 0.5) / 1e6,
        "p99_ms": percentile(merged, 0.99) / 1e6,
    }
    print("RESULT " + json.dumps(result))


def run_clients(
    url: str, path: str, body: str, headers: list[dict[str, str]], clients: int, requests: int, warmup: int
) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    spec = {
        "host": parts.hostname,
        "port": parts.port,
        "path": path,
        "body": body,
        "headers": headers,
        "clients": clients,
        "requests": requests,
        "warmup": warmup,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "client", f.name],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
    finally:
        os.unlink(f.name)
    found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not found:
        raise SystemExit(f"client failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(found[0][7:])
    if result["failures"]:
        raise SystemExit(f"{result['failures']} requests failed against {url}")
    return result


def signer(cloud: Any, env: str) -> Callable[[str, bytes], dict[str, str]]:
    """SigV4 for execute-api with the environment operator's keys, as ``LocalCloud.signed_headers``
    signs, but with the credentials resolved once (a boto3 Session per request costs ~40 ms)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from slipway_local import REGION

    credentials = cloud.session(env).get_credentials().get_frozen_credentials()

    def sign(url: str, body: bytes) -> dict[str, str]:
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
        return dict(request.headers.items())

    return sign


def slipway_http(
    cloud: Any, row: dict[str, Any], clients: list[int], requests: int, warmup: int, profile: bool, diagnose: bool
) -> dict[Any, Any]:
    url = cloud.api_url("dev")
    body = json.dumps({"instances": [row]})
    devnull = open(os.devnull, "w")
    with contextlib.redirect_stdout(devnull):
        cloud.invoke("dev", "InferFunction", http_event(body))  # loads the function's module in the runtime
    sign = signer(cloud, "dev")
    assert sign(url + PREDICT, body.encode()).keys() >= {"Authorization", "X-Amz-Date"}
    results = {}
    for n in clients:
        # Each request signed apart (SigV4 for execute-api, as `slipway predict` does), before the
        # clock starts, so the client process spends its time on HTTP only.
        total = n * (requests // n + warmup)
        headers = [sign(url + PREDICT, body.encode()) for _ in range(total)]
        print(f"  slipway, {n} client(s): load {load_average()}", flush=True)
        with contextlib.redirect_stdout(devnull):  # the function's EMF lines, as Lambda's stdout
            results[n] = run_clients(url, PREDICT, body, headers, n, requests, warmup)
    if diagnose:  # the same runs with the function's captures kept in memory instead of moto's Firehose
        import dataclasses

        app = next(m for path, m in cloud.runtime._modules.items() if path.parent.name == "infer")
        original, replaced = app.deps, {}

        def in_memory_captures() -> Any:
            found = original()
            if found not in replaced:
                replaced[found] = dataclasses.replace(found, captures=MemorySink())
            return replaced[found]

        app.deps = in_memory_captures
        try:
            for n in clients:
                headers = [sign(url + PREDICT, body.encode()) for _ in range(n * (requests // n + warmup))]
                print(f"  slipway, captures in memory, {n} client(s): load {load_average()}", flush=True)
                with contextlib.redirect_stdout(devnull):
                    results[f"{n} (captures in memory)"] = run_clients(url, PREDICT, body, headers, n, requests, warmup)
        finally:
            app.deps = original
    if profile:  # where the local API's time goes: wall time of each stage, one client
        headers = [sign(url + PREDICT, body.encode()) for _ in range(requests // 2 + warmup)]
        with contextlib.redirect_stdout(devnull), stage_timers(cloud) as totals:
            run_clients(url, PREDICT, body, headers, 1, requests // 2, warmup)
        n = requests // 2 + warmup
        results["profile"] = [(label, totals[label] / n / 1000) for label in totals]
    return results


@contextlib.contextmanager
def stage_timers(cloud: Any) -> Any:
    """Wall time spent in each stage of the local API's requests, summed (ns), by wrapping the stages'
    functions for the duration (cProfile cannot split them: since 3.12 it mixes the threads' stacks)."""
    from slipway.adapters.firehose import FirehoseSink
    from slipway_local import gateway
    from slipway_local.lambda_runtime import LambdaRuntime

    app = next(m for path, m in cloud.runtime._modules.items() if path.parent.name == "infer")
    stages = [
        (gateway._Handler, "do_POST", "request in the gateway's thread, after its headers are parsed"),
        (gateway, "authorize_iam", "  SigV4 + IAM policy check (apiauth: the local cloud's IAM evaluation)"),
        (gateway, "http_event", "  payload 2.0 event"),
        (LambdaRuntime, "_run", "  local Lambda runtime (environment gate, context, result JSON)"),
        (app, "lambda_handler", "    infer lambda_handler"),
        (gateway._Handler, "_send", "  answer written"),
        (FirehoseSink, "put", "capture sender thread: Firehose PutRecordBatch (botocore + moto + S3)"),
    ]
    totals = dict.fromkeys((label for _o, _n, label in stages), 0)
    originals = []
    for owner, name, label in stages:
        original = owner.__dict__[name]
        originals.append((owner, name, original))

        def timed(*args: Any, _original: Any = original, _label: str = label, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += time.perf_counter_ns() - started

        setattr(owner, name, timed)
    try:
        yield totals
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def mlflow_http(
    venv: Path,
    skops_bytes: bytes,
    example: dict[str, Any],
    clients: list[int],
    requests: int,
    warmup: int,
    workdir: Path,
) -> tuple[dict[int, dict[str, Any]], float, float]:
    """(results per client count, seconds until /ping answered, P(churn) of the example row)."""
    import http.client

    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"no MLflow venv at {venv}: make bench-serving, or --skip mlflow")
    (workdir / "model.skops").write_bytes(skops_bytes)
    (workdir / "example.json").write_text(json.dumps(example))
    saved = subprocess.run(
        [
            str(python),
            str(HERE / "mlflow_model.py"),
            str(workdir / "model.skops"),
            str(workdir / "example.json"),
            str(workdir / "mlflow-model"),
            str(ROOT / "layers" / "core" / "slipway"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if saved.returncode != 0:
        raise SystemExit(f"mlflow_model.py failed: {saved.stderr[-3000:]}")
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"file://{workdir}/mlruns",
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
    }
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            str(venv / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            str(workdir / "mlflow-model"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
            "--env-manager",
            "local",
        ],
        stdout=open(workdir / "mlflow-serve.log", "w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        ready = None
        while ready is None and time.perf_counter() - started < 180:
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    ready = time.perf_counter() - started
                conn.close()
            if server.poll() is not None:
                raise SystemExit(f"mlflow models serve exited: {(workdir / 'mlflow-serve.log').read_text()[-3000:]}")
            time.sleep(0.05)
        if ready is None:
            raise SystemExit("mlflow models serve did not answer /ping within 180 s")
        body = json.dumps({"dataframe_records": example["records"]})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        answered = json.loads(answer.read())
        conn.close()
        if answer.status != 200:
            raise SystemExit(f"MLflow answered {answer.status}: {answered}")
        probability = float(answered["predictions"][0][-1])
        results = {}
        for n in clients:
            print(f"  MLflow, {n} client(s): load {load_average()}", flush=True)
            results[n] = run_clients(
                f"http://127.0.0.1:{port}",
                "/invocations",
                body,
                [{"Content-Type": "application/json"}],
                n,
                requests,
                warmup,
            )
        return results, ready, probability
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


# ---------------------------------------------------------------------------------------------- (c)
def infer_environment(cloud: Any, dev: Any, port: int) -> dict[str, str]:
    """The environment a fresh ``infer`` process runs under: the deployed function's own variables, the dev
    operator's keys, and AWS reached through a moto server on ``port`` that serves the local cloud's backends."""
    environment = cloud.environments["dev"]
    function = dev.client("lambda").get_function_configuration(FunctionName=environment.functions["InferFunction"])
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": environment.access_key_id,
        "AWS_SECRET_ACCESS_KEY": environment.secret_access_key,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_LAMBDA_FUNCTION_NAME": function["FunctionName"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **function.get("Environment", {}).get("Variables", {}),
    }


def cold_starts(
    cloud: Any,
    dev: Any,
    row: dict[str, Any],
    skops_file: Path,
    example: dict[str, Any],
    build: Path | None,
    runs: int,
    workdir: Path,
) -> dict[str, dict[str, Any]]:
    """Fresh processes. The slipway ones use the function's own composition (boto3, Settings from the
    environment) against a moto server that serves the same in-process backends as the local cloud."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = infer_environment(cloud, dev, port)
        # the code under test when run from a snapshot (PYTHONPATH); `python -I` (sam build cases) ignores it
        passed = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
        env.update(passed)
        event = http_event(json.dumps({"instances": [row]}), request_id="cold")
        site_packages = next(Path(sys.prefix, "lib").glob("python3.*/site-packages"))
        base_python = Path(sys.base_prefix) / "bin" / "python3"
        cases: list[tuple[str, list[str], dict[str, Any], dict[str, str]]] = [
            (
                "slipway infer, .venv (bytecode cached)",
                [sys.executable, "-B"],
                {"path": [str(ROOT / "functions" / "infer")], "event": event},
                env,
            )
        ]
        if build is not None:
            compiled = workdir / "sam-build-pyc"
            if not compiled.exists():
                shutil.copytree(build, compiled)
                subprocess.run(
                    [
                        str(base_python),
                        "-m",
                        "compileall",
                        "-q",
                        "--invalidation-mode",
                        "unchecked-hash",
                        str(compiled),
                    ],
                    check=True,
                )
            for label, where in (("as built (layers with .pyc)", build), ("+ every module compiled", compiled)):
                paths = [
                    str(where / "InferFunction"),
                    str(where / "CoreLayer" / "python"),
                    str(where / "InferenceLayer" / "python"),
                ]
                cases.append(
                    (
                        f"slipway infer, sam build {label}",
                        [str(base_python), "-I", "-B"],
                        # boto3 comes with the Lambda runtime: from the .venv, after the layers
                        {"path": paths, "append": [str(site_packages)], "event": event},
                        env,
                    )
                )
        cases.append(
            (
                "pandas + scikit-learn + skops pipeline (peer)",
                [sys.executable, "-B"],
                {"skops": str(skops_file), "row": example["records"][0], "dtypes": example["dtypes"]},
                {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **passed},
            )
        )
        results: dict[str, list[dict[str, Any]]] = {case[0]: [] for case in cases}
        for _ in range(runs):
            for label, command, arguments, case_env in cases:
                kind = "sklearn" if "peer" in label else "slipway"
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                    json.dump(arguments, f)
                started = time.perf_counter()
                child = subprocess.Popen(
                    [*command, str(HERE / "cold_start.py"), kind, f.name],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=case_env,
                )
                assert child.stdout is not None
                line, answered = "", None
                for line in child.stdout:  # the answer is the RESULT line: spawn → answer, not → exit
                    if line.startswith("RESULT "):
                        answered = time.perf_counter() - started
                        break
                _out, err = child.communicate(timeout=120)
                os.unlink(f.name)
                if answered is None:
                    raise SystemExit(f"{label}: {err[-3000:]}")
                result = json.loads(line[7:])
                if result.get("status", 200) != 200:
                    raise SystemExit(f"{label}: answered {result['status']}: {result['body']}")
                result["wall_s"] = answered
                results[label].append(result)
    finally:
        server.stop()
    summary = {}
    for label, samples in results.items():
        summary[label] = {
            key: statistics.median(s[key] for s in samples)
            for key in ("import_s", "first_call_s", "total_s", "wall_s", "before_import_s")
        }
        summary[label]["min_wall_s"] = min(s["wall_s"] for s in samples)
        summary[label]["runs"] = len(samples)
        summary[label]["modules"] = samples[0]["modules"]
    return summary


# ---------------------------------------------------------------------------------------------- (d)
def sam_build(build_dir: Path, sam: Path) -> Path:
    if build_dir.exists():
        shutil.rmtree(build_dir)
    env = {**os.environ, "PATH": f"{Path(sys.base_prefix) / 'bin'}:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(
        [
            str(sam),
            "build",
            "--template",
            str(ROOT / "infra" / "template.yaml"),
            "--build-dir",
            str(build_dir),
            "InferFunction",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"sam build failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return build_dir


def sizes(build: Path) -> dict[str, Any]:
    def du(path: Path) -> int:
        return int(
            subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
        )

    parts = {name: du(build / name) for name in ("InferFunction", "CoreLayer", "InferenceLayer")}
    biggest = []
    for layer in ("CoreLayer", "InferenceLayer"):
        for entry in (build / layer / "python").iterdir():
            if entry.is_dir() and not entry.name.endswith(".dist-info"):
                biggest.append((f"{layer}: {entry.name}", du(entry)))
    biggest.sort(key=lambda x: -x[1])
    pyc = sum(1 for _ in build.rglob("*.pyc"))
    return {"parts": parts, "total": sum(parts.values()), "biggest": biggest[:8], "pyc_files": pyc}


# ---------------------------------------------------------------------------------------------- report
def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    if "a" in results:
        a = results["a"]
        print(f"(a) in-process, one row, warm: {a['calls']:,} calls each (after 300 warm-up calls), µs")
        print()
        print("| what | p50 µs | p99 µs | mean µs |")
        print("|---|---:|---:|---:|")
        for name, fig in a["steps"].items():
            print(f"| {name} | {fig['p50_us']:.1f} | {fig['p99_us']:.1f} | {fig['mean_us']:.1f} |")
        steps = a["steps"]
        handler = steps["lambda_handler(event, context) (whole handler)"]["p50_us"]
        yardstick = steps["ServedModel.predict (row → arrays + session.run)"]["p50_us"]
        print()
        print(f"whole handler p50 ÷ ServedModel.predict p50 = {handler / yardstick:.2f} (goal ≤ 2)")
        if PEER_CALL in steps:
            model_call = steps["onnxruntime session.run (model call)"]["p50_us"]
            print()
            print(f"model call p50: scikit-learn ÷ onnxruntime = {steps[PEER_CALL]['p50_us'] / model_call:.0f}×")
        if a.get("profile"):
            print()
            print("cProfile of the handler, own time by area (shares; the profiler inflates Python code):")
            print()
            print("| area | share |")
            print("|---|---:|")
            for area, share in a["profile"]:
                if share >= 0.005:
                    print(f"| {area} | {share:.0%} |")
    if "b" in results:
        b = results["b"]
        print()
        print(
            f"(b) HTTP, one row per request, {args.requests:,} requests per run, keep-alive clients in another process"
        )
        if b.get("mlflow_ready_s") is not None:
            print(f"    mlflow models serve answered /ping {b['mlflow_ready_s']:.1f} s after start")
        print()
        print("| server | clients | requests/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for server in ("slipway", "mlflow"):
            for n, fig in b.get(server, {}).items():
                name = "slipway local HTTP API (infer)" if server == "slipway" else "mlflow models serve (1 worker)"
                if "memory" in str(n):
                    name, n = "slipway, captures in memory (diagnostic)", str(n).split()[0]
                print(f"| {name} | {n} | {fig['rps']:,.0f} | {fig['p50_ms']:.2f} | {fig['p99_ms']:.2f} |")
        if b.get("mlflow"):
            print()
            print("| clients | slipway ÷ MLflow requests/s | MLflow ÷ slipway p50 | MLflow ÷ slipway p99 |")
            print("|---:|---:|---:|---:|")
            for n in sorted(b["mlflow"]):
                s, m = b["slipway"][n], b["mlflow"][n]
                rps, p50, p99 = s["rps"] / m["rps"], m["p50_ms"] / s["p50_ms"], m["p99_ms"] / s["p99_ms"]
                print(f"| {n} | {rps:.1f}× | {p50:.1f}× | {p99:.1f}× |")
        if b.get("profile"):
            print()
            print("the local API's process, one client: mean wall time per request by stage (µs):")
            print()
            print("| stage | µs per request |")
            print("|---|---:|")
            for stage, us in b["profile"]:
                print(f"| {stage} | {us:.0f} |")
    if "c" in results:
        c = results["c"]
        print()
        print("(c) cold start, fresh process → first prediction (medians of the runs; s)")
        print()
        print("| process | interpreter → script | imports | first call | script → answer | spawn → answer | best |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, fig in c.items():
            keys = ("before_import_s", "import_s", "first_call_s", "total_s", "wall_s", "min_wall_s")
            print(f"| {label} | " + " | ".join(f"{fig[k] * 1000:.0f} ms" for k in keys) + " |")
        peer = next((f for label, f in c.items() if "peer" in label), None)
        if peer:
            print()
            for label, fig in c.items():
                if "peer" not in label:
                    print(f"  peer ÷ {label}: {peer['wall_s'] / fig['wall_s']:.1f}× (spawn → answer)")
    if "d" in results:
        d = results["d"]
        print()
        print(f"(d) size of `sam build InferFunction`, unzipped (du -sb; {d['pyc_files']} .pyc files)")
        print()
        print("| part | MB |")
        print("|---|---:|")
        for name, size in d["parts"].items():
            print(f"| {name} | {size / 1e6:.1f} |")
        print(f"| **total** | **{d['total'] / 1e6:.1f}** |")
        print()
        print("largest packages: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in d["biggest"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="training rows of the churn sample")
    parser.add_argument("--calls", type=int, default=5_000, help="(a) timed calls per step")
    parser.add_argument("--requests", type=int, default=2_000, help="(b) timed requests per run")
    parser.add_argument("--warmup", type=int, default=50, help="(b) untimed requests per client first")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--mlflow-venv", type=Path, default=Path("/tmp/mlflow-venv"))
    parser.add_argument("--build-dir", type=Path, default=Path("/tmp/sam-build-serving"))
    parser.add_argument("--sam", type=Path, default=SAM, help="the sam CLI (make's .venv-sam)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["a", "b", "c", "d", "mlflow", "build", "profile", "diagnose"]
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    print(f"load average at start: {load_average()} ({os.cpu_count()} CPUs)")
    results: dict[str, Any] = {"load_start": load_average()}
    build: Path | None = None
    if "build" not in args.skip:
        t = time.perf_counter()
        build = sam_build(args.build_dir, args.sam)
        print(f"sam build InferFunction → {build} ({time.perf_counter() - t:.1f} s)")
    elif (args.build_dir / "InferFunction").exists():
        build = args.build_dir
    if build is not None and "d" not in args.skip:
        results["d"] = sizes(build)

    import pandas as pd

    from slipway import layout
    from slipway.domain.features import model_input_frame
    from slipway.stores.artifacts import verified_bytes
    from slipway.stores.features import feature_inputs
    from slipway.stores.registry import ModelRegistry

    cloud, dev, version = train(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        row = client_row()
        item = ModelRegistry.of(dev.deps).get_version(MODEL, version)
        skops = item["artifacts"][layout.MODEL_SKOPS]
        skops_bytes = verified_bytes(dev.deps.store, skops["uri"], skops["sha256"])
        (workdir / "model.skops").write_bytes(skops_bytes)
        frame = model_input_frame([row], feature_inputs(item["inputs"]))
        dtypes = {
            c: "float64" if frame[c].dtype.kind == "f" else "int64" if frame[c].dtype.kind in "iu" else "object"
            for c in frame.columns
        }
        records = json.loads(frame.astype(dtypes).to_json(orient="records"))
        example = {"records": records, "dtypes": dtypes}

        if "a" not in args.skip:
            print(f"(a) in-process: load {load_average()}", flush=True)
            from slipway.domain.artifacts_codec import load_model

            pipeline = load_model(skops_bytes)
            one_row = pd.DataFrame(example["records"]).astype(example["dtypes"])
            results["a"] = in_process(
                dev, row, args.calls, "profile" not in args.skip, lambda: pipeline.predict_proba(one_row)
            )
        if "b" not in args.skip:
            print(f"(b) HTTP: load {load_average()}", flush=True)
            found_http = slipway_http(
                cloud,
                row,
                args.clients,
                args.requests,
                args.warmup,
                "profile" not in args.skip,
                "diagnose" not in args.skip,
            )
            results["b"] = {"slipway": {k: v for k, v in found_http.items() if k != "profile"}}
            results["b"]["profile"] = found_http.get("profile")
            if "mlflow" not in args.skip:
                found, ready, probability = mlflow_http(
                    args.mlflow_venv, skops_bytes, example, args.clients, args.requests, args.warmup, workdir
                )
                results["b"].update(mlflow=found, mlflow_ready_s=ready, mlflow_probability=probability)
        if "c" not in args.skip:
            print(f"(c) cold starts: load {load_average()}", flush=True)
            results["c"] = cold_starts(
                cloud, dev, row, workdir / "model.skops", example, build, args.cold_runs, workdir
            )
        results["load_end"] = load_average()
        if "a" in results and results.get("b", {}).get("mlflow_probability") is not None:
            ours, theirs = results["a"]["probability"], results["b"]["mlflow_probability"]
            print(f"same model: P(churn) of the row, slipway (ONNX) {ours:.6f} vs MLflow (scikit-learn) {theirs:.6f}")
            if abs(ours - theirs) > 1e-4:
                raise SystemExit("the two servers do not serve the same model")
    finally:
        cloud.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, args)
    print(f"\nload average: {results['load_start']} at start, {results['load_end']} at the end")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client_main(sys.argv[2:])
    else:
        main()
