"""One cold start, in a fresh interpreter: the clock starts at this file's first line, before any
import. Started by bench_serving.py with the environment and sys.path of the case; prints one JSON
line with the phases.

    slipway: import functions/infer/app.py, then one POST /v1/models/churn/predict event through
             lambda_handler; the model comes from the registry through the function's own ports
             (boto3 against the local cloud's moto endpoint).
    restore: SnapStart's path in one process: import app.py and run its before-snapshot hooks (what
             Lambda does once per published version, before the snapshot), then, timed apart, its
             after-restore hooks and the first prediction (what a restored environment runs). The
             restore itself (Lambda resuming the microVM's memory) is not measured here.
    sklearn: import pandas + scikit-learn + skops, load the registered skops pipeline from a file,
             predict_proba on a 1-row DataFrame (the peer's path).
"""

import time

T0 = time.perf_counter()

import json  # noqa: E402 - after the clock starts
import sys  # noqa: E402


class Context:
    function_name = "infer"
    aws_request_id = "cold-start"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:infer"


def slipway(args: dict) -> dict:
    sys.path[:0] = args["path"]
    sys.path.extend(args.get("append", []))
    t = time.perf_counter()
    import app

    imported = time.perf_counter()
    response = app.lambda_handler(args["event"], Context())
    answered = time.perf_counter()
    return {
        "before_import_s": t - T0,
        "import_s": imported - t,
        "first_call_s": answered - imported,
        "total_s": answered - T0,
        "status": response["statusCode"],
        "body": response["body"][:400],
        "modules": len(sys.modules),
        "pandas_loaded": "pandas" in sys.modules,
    }


def restore(args: dict) -> dict:
    sys.path[:0] = args["path"]
    sys.path.extend(args.get("append", []))
    t = time.perf_counter()
    import app
    import snapshot_restore_py

    imported = time.perf_counter()
    before = snapshot_restore_py.get_before_snapshot()
    while before:  # as Lambda's runtime runs them: last registered first
        hook, hook_args, hook_kwargs = before.pop()
        hook(*hook_args, **hook_kwargs)
    snapshotted = time.perf_counter()
    # ---- the snapshot: everything above is in it; below is what an environment restored from it runs
    for hook, hook_args, hook_kwargs in snapshot_restore_py.get_after_restore():
        hook(*hook_args, **hook_kwargs)
    restored = time.perf_counter()
    response = app.lambda_handler(args["event"], Context())
    answered = time.perf_counter()
    return {
        "before_import_s": t - T0,
        "import_s": imported - t,
        "before_snapshot_s": snapshotted - imported,
        "after_restore_s": restored - snapshotted,
        "first_call_s": answered - restored,
        "restored_total_s": answered - snapshotted,
        "total_s": answered - T0,
        "status": response["statusCode"],
        "body": response["body"][:400],
        "modules": len(sys.modules),
    }


def sklearn(args: dict) -> dict:
    t = time.perf_counter()
    import pandas as pd
    import skops.io as sio

    imported = time.perf_counter()
    with open(args["skops"], "rb") as f:
        data = f.read()
    trusted = [t for t in sio.get_untrusted_types(data=data) if t.startswith(("sklearn.", "numpy.", "slipway."))]
    pipeline = sio.loads(data, trusted=trusted)
    frame = pd.DataFrame([args["row"]]).astype(args["dtypes"])
    probability = float(pipeline.predict_proba(frame)[0, -1])
    answered = time.perf_counter()
    return {
        "before_import_s": t - T0,
        "import_s": imported - t,
        "first_call_s": answered - imported,
        "total_s": answered - T0,
        "probability": probability,
        "modules": len(sys.modules),
    }


if __name__ == "__main__":
    case = sys.argv[1]
    with open(sys.argv[2]) as f:
        arguments = json.load(f)
    result = {"slipway": slipway, "restore": restore, "sklearn": sklearn}[case](arguments)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
