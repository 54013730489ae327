"""Per-row explanations on the lean inference path (numpy only): each raw feature's contribution to one output of
the model, in the units of that output, such that the base value plus the contributions equals it.

Two exact methods, for the algorithms slipway trains:

- **linear** models (logistic and ridge regression on standardised features): the contribution of column j is
  ``w_j (z_j - mean_j)`` with ``mean`` the training rows' mean (zero for standardised columns), base ``b + w·mean``.
- **tree ensembles** (random forest, gradient boosting, histogram gradient boosting, LightGBM, XGBoost): SHAP
  values with the path-dependent expectation of TreeSHAP (Lundberg et al. 2018), where a leaf's share of an absent
  feature is its training cover (rows, or XGBoost's sum of hessians). For one
  leaf, with the path's distinct features j carrying a cover fraction ``z_j`` and ``o_j`` = 1 when the row follows
  every split on j (else 0), the leaf's value is the game ``v · Π_{j∈S} o_j · Π_{j∉S} z_j`` and feature i's Shapley
  value is ``v (o_i - z_i) Σ_k w_k [t^k] Π_{j≠i} (z_j + o_j t)`` with ``w_k = k!(d-1-k)!/d!``. Leaves are grouped
  by ``d`` and each group is computed at once over rows and leaves (polynomial products and their deflation),
  which is Algorithm 2's EXTEND/UNWIND without its recursion.

Contributions of derived columns (one-hot levels, bins, date parts) add up to the raw feature they came from; a
ratio of two inputs is reported under its own name. The explainer is built and checked against the ONNX model at
registration (``slipway.domain.explainer_export``) and stored beside it as ``explainer.npz``."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

__all__ = ["Explainer", "Explanation", "NotExplainable"]

Kind = Literal["linear", "trees"]
# what one output of the model is: log-odds (a binary classifier's logistic output), margin (one class's input
# to a softmax), probability (a random forest's averaged votes), value (a regression's prediction)
Units = Literal["log-odds", "margin", "probability", "value"]
_CHUNK_CELLS = 1 << 18  # rows × leaves × path length computed at once by the tree method (a few MB per array)


class NotExplainable(ValueError):
    """The model (or this version of it) has no exact explanation: why, in words a user can act on."""


@dataclass(frozen=True)
class Explanation:
    """Per row: the output explained (``output``: its index), the base value and each group's contribution."""

    output: np.ndarray  # (n,) int
    base: np.ndarray  # (n,) float64
    contributions: np.ndarray  # (n, groups) float64

    def raw(self) -> np.ndarray:
        """The model's raw output each row's explanation adds up to."""
        return np.asarray(self.base + self.contributions.sum(axis=1), dtype=np.float64)


@dataclass(frozen=True)
class _Leaves:
    """Leaves whose paths split on ``d`` distinct features, arrays ``(leaves, d)`` and values ``(leaves, K)``."""

    feature: np.ndarray
    lower: np.ndarray  # the row follows the path on that feature when lower < x <= upper ...
    upper: np.ndarray
    nan_follows: np.ndarray  # ... or x is NaN and every split on it sends NaN the path's way
    zero: np.ndarray  # the path's training cover fraction on that feature
    value: np.ndarray

    @cached_property
    def weights(self) -> np.ndarray:
        d = self.feature.shape[1]
        return np.array([math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d) for k in range(d)])

    @cached_property
    def _by_output(self) -> dict[int, _Leaves]:
        return {}

    def of_output(self, output: int) -> _Leaves:
        """The leaves that add to ``output`` (a boosted multi-class model's trees each add to one class), with
        that output's value as their only column."""
        found = self._by_output.get(output)
        if found is None:
            keep = self.value[:, output] != 0
            found = _Leaves(
                self.feature[keep],
                self.lower[keep],
                self.upper[keep],
                self.nan_follows[keep],
                self.zero[keep],
                self.value[keep][:, output : output + 1],
            )
            self._by_output[output] = found
        return found


@dataclass(frozen=True)
class Explainer:
    kind: Kind
    units: Units
    groups: tuple[str, ...]  # what contributions are reported under: the raw inputs, then ratios by name
    owner: np.ndarray  # (m,) int: each model column's group
    base: np.ndarray  # (K,) the expected output (over the training rows) of each output
    coef: np.ndarray | None = None  # linear: (K, m)
    mean: np.ndarray | None = None  # linear: (m,)
    leaves: tuple[_Leaves, ...] = ()  # trees

    @property
    def outputs(self) -> int:
        return int(self.base.shape[0])

    def output_for(self, predicted: np.ndarray) -> np.ndarray:
        """Which output explains each row: the only one (a binary classifier's log-odds, a regression), the
        positive (last) class's probability of a binary random forest, else the predicted class's."""
        if self.outputs == 1:
            return np.zeros(len(predicted), dtype=np.int64)
        if self.outputs == 2 and self.units == "probability":
            return np.ones(len(predicted), dtype=np.int64)
        return np.asarray(predicted, dtype=np.int64)

    def explain(self, features: np.ndarray, output: np.ndarray) -> Explanation:
        """Contributions to output ``output[r]`` of row r of ``features`` (the model's input matrix, ``(n, m)``:
        the ONNX graph's ``features`` tensor)."""
        x = np.asarray(features, dtype=np.float64)
        output = np.asarray(output, dtype=np.int64)
        if self.kind == "linear":
            assert self.coef is not None and self.mean is not None
            per_column = self.coef[output] * (x - self.mean)
        else:
            per_column = np.zeros(x.shape)
            for chosen in np.unique(output).tolist():
                rows = np.flatnonzero(output == chosen)
                per_column[rows] = self._trees(x[rows], chosen)
        return Explanation(output, self.base[output], per_column @ self._grouping)

    @cached_property
    def _grouping(self) -> np.ndarray:
        grouping = np.zeros((len(self.owner), len(self.groups)))
        grouping[np.arange(len(self.owner)), self.owner] = 1.0
        return grouping

    def _trees(self, x: np.ndarray, output: int) -> np.ndarray:
        """``(n, m)``: each model column's contribution to ``output`` for each row of ``x``."""
        n, m = x.shape
        total = np.zeros((n, m))
        for bucket in self.leaves:
            leaves = bucket.of_output(output)
            size = leaves.feature.size
            if size == 0:
                continue
            step = max(1, _CHUNK_CELLS // size)  # rows at once: the arrays are rows × leaves × path length
            for start in range(0, n, step):
                part = x[start : start + step]
                weighted = _leaf_shapley(part, leaves) * leaves.value[None, :, :]  # value (L, 1) per leaf
                index = (np.arange(len(part)) * m)[:, None, None] + leaves.feature[None, :, :]
                summed = np.bincount(index.ravel(), weights=weighted.ravel(), minlength=len(part) * m)
                total[start : start + step] += summed.reshape(len(part), m)
        return total

    # ------------------------------------------------------------------ storage
    def to_bytes(self) -> bytes:
        meta = {"kind": self.kind, "units": self.units, "groups": list(self.groups)}
        arrays: dict[str, np.ndarray] = {
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            "owner": self.owner.astype(np.int64),
            "base": self.base.astype(np.float64),
        }
        if self.coef is not None and self.mean is not None:
            arrays.update(coef=self.coef.astype(np.float64), mean=self.mean.astype(np.float64))
        for n, leaves in enumerate(self.leaves):
            for name in ("feature", "lower", "upper", "nan_follows", "zero", "value"):
                arrays[f"leaves{n}_{name}"] = getattr(leaves, name)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub wants the file's keyword
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Explainer:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        count = len({name.split("_")[0] for name in arrays if name.startswith("leaves")})
        leaves = tuple(
            _Leaves(**{name: arrays[f"leaves{n}_{name}"] for name in _Leaves.__dataclass_fields__})
            for n in range(count)
        )
        return cls(
            kind=meta["kind"],
            units=meta["units"],
            groups=tuple(meta["groups"]),
            owner=arrays["owner"],
            base=arrays["base"],
            coef=arrays.get("coef"),
            mean=arrays.get("mean"),
            leaves=leaves,
        )


def _leaf_shapley(x: np.ndarray, leaves: _Leaves) -> np.ndarray:
    """``(n, L, d)``: the Shapley value, per unit of leaf value, of each path feature of each leaf for each row."""
    d = leaves.feature.shape[1]
    values = x[:, leaves.feature]  # (n, L, d)
    with np.errstate(invalid="ignore"):
        follows = (values > leaves.lower) & (values <= leaves.upper)
    one = (follows | (np.isnan(values) & leaves.nan_follows)).astype(np.float64)
    zero = np.broadcast_to(leaves.zero, one.shape)
    # Q(t) = Π_j (z_j + o_j t): coefficients (n, L, d + 1), lowest power first
    q = np.zeros((*one.shape[:2], d + 1))
    q[..., 0] = 1.0
    for j in range(d):
        shifted = np.zeros_like(q)
        shifted[..., 1:] = q[..., :-1] * one[..., j : j + 1]
        q = q * zero[..., j : j + 1] + shifted
    w = leaves.weights
    # Σ_k w_k [t^k] Q(t) / (z_i + o_i t) for every i at once. Where o_i = 1, deflate from the top:
    # r_{d-1} = q_d, r_{k-1} = q_k - z_i r_k (stable: z_i ≤ 1); where o_i = 0, r = q / z_i.
    r = np.broadcast_to(q[..., d : d + 1], one.shape).copy()
    hot = r * w[d - 1]
    for k in range(d - 1, 0, -1):
        r = q[..., k : k + 1] - zero * r
        hot += r * w[k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        cold = (q[..., :d] @ w)[..., None] / zero
    cold = np.where(zero > 0, cold, 0.0)
    return np.asarray((one - zero) * np.where(one > 0, hot, cold), dtype=np.float64)
