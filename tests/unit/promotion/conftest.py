"""Two registered churn versions in dev (run-1 → 1, run-2 → 2), trained once per session on the fakes,
with staging and prod beside it (nothing promoted yet). Fork it to change it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from slipway.stores.specs import push_spec
from tests.fakes import fake_deps
from tests.unit.promotion.support import Environments, environments
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text


@pytest.fixture(scope="session")
def registered() -> Iterator[Environments]:
    with threadpool_limits(limits=1):
        dev = fake_deps()
        # Two logistic regressions fitted on 600 rows each differ in the spread of their scores enough to move
        # the PSI past the default 0.25: here the shift ceiling is 1, so the canary tests judge the mechanics
        # (the criterion itself: tests/unit/test_canary.py, and a skewed version in the local cloud).
        push_spec(dev, spec_text(replace={"max_prediction_shift: 0.25": "max_prediction_shift: 1.0"}))
        run_pipeline(dev, "run-1", "churn/customers.csv", churn_csv(), until="register")
        run_pipeline(dev, "run-2", "churn/december.csv", churn_csv(seed=8), until="register")
        yield environments(dev)


@pytest.fixture
def envs(registered: Environments) -> Environments:
    return registered.fork()
