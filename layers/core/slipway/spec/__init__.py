"""The model spec, one YAML per model: ``data`` (the contract), ``features``, ``training``,
``gates``, ``deployment`` and ``monitoring``. ``load_spec`` validates it and names every field at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipway.spec.data import ColumnSpec, ColumnType, DataContract, Label, canonical_category, parse_timestamp
    from slipway.spec.deployment import ApprovalSpec, DeploymentSpec, OnlineMetricSpec, RollbackSpec
    from slipway.spec.features import FeaturesSpec, SplitSpec
    from slipway.spec.missing import Constant, Missing, MissingSpec
    from slipway.spec.model import ModelSpec, TrainingSection, dump_spec_yaml, label_problems, load_spec, spec_version
    from slipway.spec.monitoring import DriftTests, MonitoringSpec, PerformanceSpec, RetrainingSpec
    from slipway.spec.training import CandidateSpec, GatesSpec, TrainingSpec, metric_direction

# The names load on first use (PEP 562): a function that imports only ``slipway.spec.data`` (infer needs
# nothing but the data contract) does not build the pydantic models of features, training, deployment
# and monitoring at cold start.


__all__ = [
    "ApprovalSpec",
    "CandidateSpec",
    "ColumnSpec",
    "ColumnType",
    "Constant",
    "DataContract",
    "DeploymentSpec",
    "DriftTests",
    "FeaturesSpec",
    "GatesSpec",
    "Label",
    "Missing",
    "MissingSpec",
    "ModelSpec",
    "MonitoringSpec",
    "OnlineMetricSpec",
    "PerformanceSpec",
    "RetrainingSpec",
    "RollbackSpec",
    "SplitSpec",
    "TrainingSection",
    "TrainingSpec",
    "canonical_category",
    "dump_spec_yaml",
    "label_problems",
    "load_spec",
    "metric_direction",
    "parse_timestamp",
    "spec_version",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from slipway.spec import data, deployment, features, missing, model, monitoring, training

    for module in (data, deployment, features, missing, model, monitoring, training):
        globals().update({n: getattr(module, n) for n in __all__ if n in vars(module)})
    return globals()[name]
