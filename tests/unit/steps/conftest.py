"""The one expensive state the step tests share (a churn run driven through evaluate on the fakes), and
one BLAS/OpenMP thread: on a shared two-core machine, threads spinning against each other made a
360-row logistic regression fit 5-25 times slower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from slipway.stores.specs import push_spec
from tests.fakes import fake_deps
from tests.unit.steps.support import Pipeline, churn_csv, run_pipeline, spec_text


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def evaluated() -> Pipeline:
    """The churn spec pushed and one run (``run-1``) driven through evaluate: nothing registered yet.
    Read it; to change anything, work on ``tests.fakes.fork(evaluated.deps)``."""
    deps = fake_deps()
    push_spec(deps, spec_text())
    return Pipeline(deps, run_pipeline(deps, "run-1", "churn/customers.csv", churn_csv()))
