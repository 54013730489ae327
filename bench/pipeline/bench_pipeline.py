"""Upload → registered model in the local cloud, for 10k and 100k rows of the churn sample.

Times the whole execution (S3 put to the Registered state) and each state from the execution
history. One run per size; the local cloud is deployed once (its start-up is reported apart).

    .venv/bin/python bench/pipeline/bench_pipeline.py [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from collections import defaultdict
from pathlib import Path

from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_parquet_bytes
from slipway_cli.target import target_in
from slipway_local import LocalCloud

SPEC = Path(__file__).resolve().parents[2] / "specs" / "churn.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    started = time.perf_counter()
    cloud = LocalCloud(log_level="ERROR").start()
    print(f"local cloud deployed (3 accounts) in {time.perf_counter() - started:.2f} s")
    try:
        dev = target_in(cloud, "dev")
        push_spec(dev.deps, SPEC.read_text())
        sfn = dev.client("stepfunctions")
        print(f"| rows | upload → registered (s) | {' | '.join(STATES)} | largest state (KiB) |")
        print("|---:|---:|" + "---:|" * len(STATES) + "---:|")
        for rows in args.rows:
            body = to_parquet_bytes(make_churn(n_rows=rows, seed=rows))
            known = {e["executionArn"] for e in cloud.executions("dev")}
            t0 = time.perf_counter()
            dev.client("s3").put_object(
                Bucket=dev.outputs["RawBucketName"], Key=f"churn/bench-{rows}.parquet", Body=body
            )
            arn = cloud.wait_for_new_execution("dev", known)
            described = cloud.wait_for_execution("dev", arn, timeout_s=900)
            total = time.perf_counter() - t0
            if described["status"] != "SUCCEEDED":
                raise SystemExit(f"{rows} rows: {described['status']} {described.get('cause')}")
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            per_state = state_seconds(events)
            version = json.loads(described["output"])["model"]["version"]
            cells = " | ".join(f"{per_state.get(s, 0.0):.2f}" for s in STATES)
            print(f"| {rows:,} | {total:.2f} | {cells} | {_largest_state(events) / 1024:.1f} |  (v{version})")
    finally:
        cloud.stop()


STATES = ("Validate", "Features", "TrainCandidates", "Evaluate", "Register")


def _largest_state(events: list[dict]) -> int:
    """The largest state input or output of the execution, in bytes (Step Functions' limit: 256 KiB)."""
    return max(
        len(event.get(details, {}).get(field) or "")
        for event in events
        for details in ("stateEnteredEventDetails", "stateExitedEventDetails")
        for field in ("input", "output")
    )


def state_seconds(events: list[dict]) -> dict[str, float]:
    entered: dict[str, float] = {}
    seconds: dict[str, float] = defaultdict(float)
    for event in events:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"].timestamp()
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            seconds[name] += event["timestamp"].timestamp() - entered.get(name, event["timestamp"].timestamp())
    return seconds


if __name__ == "__main__":
    main()
