"""The model page's long lists, paged as a person pages them in the console over dev's table in the local cloud:
following "Older …" from the newest page reaches every alias move, audit entry and promotion once, in order, each
page through a few queries whatever the history's length; a cursor no page made is a 400 naming its field."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape

import pytest

from slipway.stores import audit, promotions, runs
from slipway.stores.registry import ModelRegistry
from slipway_cli.console.history import PAGE, RUNS_READ
from slipway_cli.console.server import running
from slipway_cli.target import Target

MODEL = "churn-pages"
MOVES, ENTRIES = 2 * PAGE + 7, PAGE + 4
FOOTER = re.compile(r"(\d+) requests to DynamoDB and S3")


@pytest.fixture(scope="module")
def base(dev: Target) -> Iterator[str]:
    """churn-pages with two versions, 57 moves of its staging alias, 29 audit entries, and two promotions with
    RUNS_READ + 50 runs of another model started between them (and 20 after the newest)."""
    deps = dev.deps
    registry = ModelRegistry.of(deps)
    for n in (1, 2):
        registry.register(MODEL, f"{MODEL}-train-{n}", {"test_metrics": {"roc_auc": 0.8}})
    for n in range(MOVES):
        registry.set_alias(MODEL, "staging", 1 + n % 2, actor="arn:aws:iam::1:user/alex", reason=f"move {n}")
    for n in range(ENTRIES):
        audit.record(deps, MODEL, "spec-push", principal="arn:aws:iam::1:user/sam", reason=f"entry {n}")

    def other_runs(count: int, first: int) -> None:
        for n in range(first, first + count):
            runs.start_run(deps, f"other-model-run-{n:04d}", model="other-model")

    other_runs(10, 0)
    promotions.record(
        deps, f"promote-{MODEL}-older", model=MODEL, source_env="dev", source_version=1, status="SUCCEEDED"
    )
    other_runs(RUNS_READ + 50, 10)
    promotions.record(deps, f"promote-{MODEL}-newer", model=MODEL, source_env="dev", source_version=2, status="FAILED")
    other_runs(20, RUNS_READ + 60)
    with running({"dev": dev}) as url:
        yield url


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def section(page: str, heading: str) -> str:
    return page[page.index(f'<h2 id="{heading}">') :].split("</section>", 1)[0]


def walk(base: str, heading: str, older: str) -> tuple[list[str], list[int]]:
    """Every row of one list, following its "Older …" link from the newest page; and each page's request count."""
    rows: list[str] = []
    requests: list[int] = []
    path = f"/env/dev/models/{MODEL}"
    while path:
        status, page = get(base + path)
        assert status == 200, page
        found = FOOTER.search(page)
        assert found is not None
        requests.append(int(found.group(1)))
        part = section(page, heading)
        body = part.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
        rows += [unescape(re.sub(r"<[^>]+>", " ", r)) for r in body.split("</tr>")[:-1] if "colspan" not in r]
        link = re.search(rf'<a rel="next" href="([^"]+)#{heading}">{older}', part)
        path = unescape(link.group(1)) if link else ""
    return rows, requests


def test_every_alias_move_is_reached_page_by_page_newest_first(base: str) -> None:
    rows, requests = walk(base, "aliases", "Older alias moves")
    reasons = [re.search(r"move \d+", r).group(0) for r in rows]  # type: ignore[union-attr]
    assert reasons == [f"move {n}" for n in reversed(range(MOVES))]
    assert len(requests) == 3 and max(requests) == min(requests)  # the same few queries on every page


def test_every_audit_entry_is_reached_page_by_page_newest_first(base: str) -> None:
    rows, requests = walk(base, "audit", "Older audit entries")
    reasons = [re.search(r"entry \d+", r).group(0) for r in rows]  # type: ignore[union-attr]
    assert reasons == [f"entry {n}" for n in reversed(range(ENTRIES))]
    assert "user sam" in rows[0] and len(requests) == 2


def test_promotions_past_the_newest_runs_are_reached_by_reading_on(base: str) -> None:
    # GIVEN the older promotion started RUNS_READ + 50 runs of another model before the newer one
    rows, requests = walk(base, "promotions", r"Older promotions")
    ids = [re.search(rf"promote-{MODEL}-\w+", r).group(0) for r in rows]  # type: ignore[union-attr]
    # THEN the newest page shows the newer one, and reading on reaches the older, each once
    assert ids == [f"promote-{MODEL}-newer", f"promote-{MODEL}-older"]
    _, first = get(f"{base}/env/dev/models/{MODEL}")
    assert f"promote-{MODEL}-older" not in section(first, "promotions")  # not among the newest RUNS_READ
    assert len(requests) >= 2 and max(requests) - min(requests) <= 1  # a get of the cursor's run on later pages


@pytest.mark.parametrize(
    ("query", "field"),
    [("history_before=yesterday", "history_before"), ("audit_before=x%23y", "audit_before"),
     ("promotions_after=no-such-run", "promotions_after")],
)  # fmt: skip
def test_a_cursor_no_page_made_is_refused_naming_its_field(base: str, query: str, field: str) -> None:
    status, page = get(f"{base}/env/dev/models/{MODEL}?{query}")
    assert status == 400 and field in page and "Traceback" not in page
