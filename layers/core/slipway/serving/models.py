"""Registered versions as servable models: the ONNX artifact read only from the key the registry
recorded and loaded only if its SHA-256 matches; one onnxruntime session per version, cached for the
life of a warm function."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from slipway import layout
from slipway.domain.decision import decide
from slipway.domain.digest import verify_sha256
from slipway.domain.explanations import Explainer, Explanation, NotExplainable
from slipway.domain.model_input import FeatureInput, model_input_from_records
from slipway.errors import NotFound
from slipway.objects import S3Object
from slipway.ports import ArtifactStore
from slipway.serving.rows import RowReader, ignored_columns
from slipway.serving.views import ViewBinding
from slipway.spec.data import ColumnSpec, DataContract

__all__ = ["ModelCache", "NotServable", "ServedModel"]

DEFAULT_BINARY_LABELS = (0, 1)  # versions registered before labels were recorded were trained on 0/1 targets


class NotServable(NotFound):
    """A registered version that cannot be served: no ONNX export (it failed parity or conversion)."""


@dataclass
class ServedModel:
    model: str
    version: int
    task: str
    inputs: list[FeatureInput]
    labels: list[Any] | None  # classification: class labels in the model's column order
    contract: DataContract
    columns: Mapping[str, ColumnSpec]  # what the model reads from a row (and the entity id)
    ignored: frozenset[str]  # contract columns a row may carry that the model does not read
    session: Any  # onnxruntime.InferenceSession
    threshold: float | None = None  # binary: P(positive) at or above it predicts the positive label (None: argmax)
    positive: int = 1  # the positive label's column
    explainer_source: Callable[[], Explainer] | None = None  # loads the version's explainer (None: it has none)
    not_explainable: str = "it was registered without an explainer"  # why, when it has none
    views: tuple[ViewBinding, ...] = ()  # feature views whose values are fetched by entity for rows that lack them

    @cached_property
    def reader(self) -> RowReader:
        """Reads request rows as validation read the data this version was trained on."""
        return RowReader(self.columns, self.ignored, self.contract.null_values)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[dict[str, float]] | None, np.ndarray]:
        """(predictions, probabilities per class or None, the score per row: P(last class) or the value) of rows
        as ``reader`` reads them."""
        output = self.session.run([self._output], model_input_from_records(rows, self.inputs))[0]
        predictions, per_class, scores, _ = self._answer(output)
        return predictions, per_class, scores

    def _answer(self, output: Any) -> tuple[list[Any], list[dict[str, float]] | None, np.ndarray, np.ndarray]:
        """``predict``'s answer from the model's output, and each row's chosen class (0 for a regression)."""
        values = np.asarray(output, dtype=np.float64)
        if self.task == "classification":
            assert self.labels is not None
            labels, keys = self.labels, self._label_keys
            chosen = decide(values, self.positive, self.threshold)
            per_class = [dict(zip(keys, row, strict=True)) for row in values.tolist()]
            return [labels[i] for i in chosen.tolist()], per_class, values[:, -1], chosen
        values = values.reshape(-1)
        return values.tolist(), None, values, np.zeros(len(values), dtype=np.int64)

    @cached_property
    def explainer(self) -> Explainer:
        """The version's explainer, read (and checked against its SHA-256) on the first request that asks."""
        if self.explainer_source is None:
            raise NotExplainable(f"{self.model}@{self.version} cannot explain its predictions: {self.not_explainable}")
        return self.explainer_source()

    def predict_explained(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Any], list[dict[str, float]] | None, np.ndarray, list[dict[str, Any]]]:
        """``predict``'s answer and each row's explanation, from one run of the model (its ``features`` output is
        the matrix the explainer reads)."""
        explainer = self.explainer
        output, features = self.session.run([self._output, "features"], model_input_from_records(rows, self.inputs))
        predictions, per_class, scores, chosen = self._answer(output)
        explained = explainer.explain(np.asarray(features), explainer.output_for(chosen))
        return predictions, per_class, scores, self._explanations(explainer, explained)

    def _explanations(self, explainer: Explainer, explained: Explanation) -> list[dict[str, Any]]:
        out = []
        for output, base, contributions in zip(
            explained.output.tolist(), explained.base.tolist(), explained.contributions.tolist(), strict=True
        ):
            ranked = sorted(zip(explainer.groups, contributions, strict=True), key=lambda pair: -abs(pair[1]))
            label = None
            if self.labels is not None:
                label = self.labels[-1] if explainer.outputs == 1 else self.labels[output]
            out.append({"output": explainer.units, "label": label, "base": base, "contributions": dict(ranked)})
        return out

    @cached_property
    def _output(self) -> str:
        """The output ``predict`` reads: a classifier's probabilities, a regressor's prediction (the graph's first;
        ``features``, when present, comes last)."""
        return "probabilities" if self.task == "classification" else str(self.session.get_outputs()[0].name)

    @cached_property
    def _label_keys(self) -> list[str]:
        """The class labels as the answer's probability keys (JSON object keys are strings)."""
        return [str(label) for label in self.labels or ()]


class ModelCache:
    """One ServedModel per (model, version, ONNX SHA-256); thread-safe; a refused load is not cached."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self._models: dict[tuple[str, int, str], ServedModel] = {}
        self._lock = threading.Lock()

    def get(self, item: Mapping[str, Any], contract: DataContract, columns: Mapping[str, ColumnSpec]) -> ServedModel:
        artifact = item.get("artifacts", {}).get(layout.MODEL_ONNX)
        if artifact is None:
            reason = item.get("onnx", {}).get("error", "no ONNX export")
            raise NotServable(
                f"{item['model']}@{item['version']} has no ONNX artifact to serve ({reason})",
                {"model": item["model"], "version": item["version"]},
            )
        key = (str(item["model"]), int(item["version"]), str(artifact["sha256"]))
        found = self._models.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._models.get(key)
            if found is None:
                found = self._load(item, artifact, contract, columns)
                self._models[key] = found
        return found

    def _load(
        self,
        item: Mapping[str, Any],
        artifact: Mapping[str, str],
        contract: DataContract,
        columns: Mapping[str, ColumnSpec],
    ) -> ServedModel:
        import onnxruntime as ort

        uri = str(artifact["uri"])
        data = verify_sha256(self._store.get_bytes(S3Object.parse(uri)), str(artifact["sha256"]), uri)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one row at a time: threads cost more than they give
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        task = str(item["task"])
        labels = None
        if task == "classification":
            labels = list(item.get("labels") or DEFAULT_BINARY_LABELS)
        inputs = [FeatureInput(str(i["name"]), i["kind"], bool(i.get("refuse_missing", False))) for i in item["inputs"]]
        ignored = ignored_columns(contract, columns)
        served = ServedModel(
            str(item["model"]), int(item["version"]), task, inputs, labels, contract, columns, ignored, session
        )
        if labels is not None and len(labels) == 2 and item.get("threshold") is not None:
            served.threshold = float(item["threshold"])
            positive_label = item.get("positive_label")
            served.positive = labels.index(positive_label) if positive_label in labels else 1
        key_types = {c.name: c.type for c in contract.columns}
        served.views = tuple(ViewBinding.of(v, key_types) for v in item.get("views") or ())
        recorded = item.get("artifacts", {}).get(layout.EXPLAINER)
        if recorded is not None:
            served.explainer_source = functools.partial(self._explainer, str(recorded["uri"]), str(recorded["sha256"]))
        else:
            served.not_explainable = str(item.get("explanations", {}).get("error") or served.not_explainable)
        return served

    def _explainer(self, uri: str, sha256: str) -> Explainer:
        return Explainer.from_bytes(verify_sha256(self._store.get_bytes(S3Object.parse(uri)), sha256, uri))
