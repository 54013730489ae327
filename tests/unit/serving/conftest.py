"""Two registered churn versions on the in-memory fakes, for the serving tests: run-1 → version 1,
run-2 (other data) → version 2; nothing holds the production alias yet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from threadpoolctl import threadpool_limits

from slipway.ports import Deps
from slipway.stores.specs import push_spec
from tests.fakes import fake_deps
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text


@dataclass
class Registered:
    deps: Deps


@pytest.fixture(scope="session")
def two_versions() -> Iterator[Registered]:
    with threadpool_limits(limits=1):
        deps = fake_deps()
        push_spec(deps, spec_text())
        run_pipeline(deps, "run-1", "churn/customers.csv", churn_csv(), until="register")
        run_pipeline(deps, "run-2", "churn/december.csv", churn_csv(seed=8), until="register")
        yield Registered(deps)
