"""Runs in MLflow's own venv (bench/serving/requirements-mlflow.txt): loads the registered skops
pipeline (types allow-listed as slipway's loader does) and saves it with ``mlflow.sklearn`` as
``mlflow models serve`` expects it, answering ``predict_proba``; slipway's transforms travel as
``code_paths``. Prints the example row's probabilities, to check both servers serve one model.

    python mlflow_model.py PIPELINE.skops EXAMPLE.json OUT_DIR SLIPWAY_PACKAGE_DIR
"""

import json
import sys
from pathlib import Path

import mlflow.sklearn
import pandas as pd
import skops.io as sio
from mlflow.models import infer_signature

ALLOWED = ("sklearn.", "numpy.", "slipway.domain.transforms.")


def main() -> None:
    skops_file, example_file, out, package = (Path(a) for a in sys.argv[1:5])
    sys.path.insert(0, str(package.parent))  # slipway.domain.transforms, for skops to rebuild the pipeline
    data = skops_file.read_bytes()
    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not t.startswith(ALLOWED)]
    if refused:
        raise SystemExit(f"refusing types {refused}")
    pipeline = sio.loads(data, trusted=untrusted)
    example = json.loads(example_file.read_text())
    frame = pd.DataFrame(example["records"]).astype(example["dtypes"])
    probabilities = pipeline.predict_proba(frame)
    mlflow.sklearn.save_model(
        pipeline,
        str(out),
        signature=infer_signature(frame, probabilities),
        pyfunc_predict_fn="predict_proba",
        code_paths=[str(package)],
        skops_trusted_types=untrusted,  # MLflow 3 saves scikit-learn models with skops by default
    )
    print(json.dumps({"probabilities": probabilities.tolist()}))


if __name__ == "__main__":
    main()
