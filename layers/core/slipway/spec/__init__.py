"""The model spec, one YAML per model: ``data`` (the contract), ``features``, ``training``,
``gates`` and ``deployment``. ``load_spec`` validates it and names every field at fault."""

from __future__ import annotations

from slipway.spec.data import ColumnSpec, ColumnType, DataContract, parse_timestamp
from slipway.spec.deployment import ApprovalSpec, DeploymentSpec, OnlineMetricSpec, RollbackSpec
from slipway.spec.features import FeaturesSpec, SplitSpec
from slipway.spec.model import ModelSpec, TrainingSection, dump_spec_yaml, load_spec, spec_version
from slipway.spec.training import CandidateSpec, GatesSpec, TrainingSpec, metric_direction

__all__ = [
    "ApprovalSpec",
    "CandidateSpec",
    "ColumnSpec",
    "ColumnType",
    "DataContract",
    "DeploymentSpec",
    "FeaturesSpec",
    "GatesSpec",
    "ModelSpec",
    "OnlineMetricSpec",
    "RollbackSpec",
    "SplitSpec",
    "TrainingSection",
    "TrainingSpec",
    "dump_spec_yaml",
    "load_spec",
    "metric_direction",
    "parse_timestamp",
    "spec_version",
]
