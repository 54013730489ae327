"""The console's long lists as a person pages and filters them, over dev's table in the local cloud. The model page:
following "Older …" from the newest page reaches every alias move, audit entry and promotion once, in order, each
page through a few queries whatever the history's length. The runs page: filtered by model, status and the winning
algorithm, with the columns chosen, all in its address. A parameter no page made is a 400 naming it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape

import pytest

from slipway import layout
from slipway.stores import audit, promotions, runs
from slipway.stores.registry import ModelRegistry
from slipway_cli.console.history import DRIFT_PAGE, PAGE, RUNS_READ
from slipway_cli.console.server import running
from slipway_cli.target import Target

MODEL = "churn-pages"
MOVES, ENTRIES, CHECKS = 2 * PAGE + 7, PAGE + 4, DRIFT_PAGE + 3
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
    for n in range(CHECKS):  # drift checks as the drift machine records them (a summary item each; no report)
        at = f"2026-12-{1 + n // 24:02d}T{n % 24:02d}:00:00+00:00"
        deps.table.put(
            layout.item(
                layout.drift_check_key(MODEL, at, f"check-{n:03d}"), model=MODEL, check_id=f"check-{n:03d}",
                status="checked", version=2, at=at, drifted=n % 2 == 0, rows=100, dataset="no_drift",
                drifted_features=[], reason=f"check {n}",
            )
        )  # fmt: skip
    runs.start_run(deps, f"{MODEL}-boosted", model=MODEL)  # a training run whose winner is LightGBM
    runs.record_candidate(deps, f"{MODEL}-boosted", 0, algorithm="random_forest")
    runs.record_candidate(deps, f"{MODEL}-boosted", 1, algorithm="lightgbm")
    runs.update_run(deps, f"{MODEL}-boosted", best_candidate=1, status="SUCCEEDED")
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


def test_every_drift_check_is_reached_page_by_page_newest_first(base: str) -> None:
    rows, requests = walk(base, "drift", "Older drift checks")
    days = [re.match(r"\s*(2026-12-\d\d \d\d:00)", r.replace("T", " ")) for r in rows]
    expected = [f"2026-12-{1 + n // 24:02d} {n % 24:02d}:00" for n in reversed(range(CHECKS))]
    assert [d.group(1) if d else None for d in days] == expected
    assert len(requests) == 2


def test_promotions_past_the_newest_runs_are_reached_by_reading_on(base: str) -> None:
    # GIVEN the older promotion started RUNS_READ + 50 runs of another model before the newer one
    rows, requests = walk(base, "promotions", r"Older promotions")
    ids = [re.search(rf"promote-{MODEL}-\w+", r).group(0) for r in rows]  # type: ignore[union-attr]
    # THEN the newest page shows the newer one, and reading on reaches the older, each once
    assert ids == [f"promote-{MODEL}-newer", f"promote-{MODEL}-older"]
    _, first = get(f"{base}/env/dev/models/{MODEL}")
    assert f"promote-{MODEL}-older" not in section(first, "promotions")  # not among the newest RUNS_READ
    assert len(requests) >= 2 and max(requests) - min(requests) <= 1  # a get of the cursor's run on later pages


def headers_and_rows(page: str) -> tuple[list[str], list[list[str]]]:
    table = page[page.index('<table class="sortable">') :].split("</table>", 1)[0]
    cells = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
    head = [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells.findall(table.split("</thead>")[0])]
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells.findall(r)] for r in body.split("</tr>")[:-1]]
    return head, [r for r in rows if len(r) == len(head)]


def test_runs_filtered_by_model_and_status_with_the_columns_chosen(base: str) -> None:
    # WHEN a person shows churn-pages' failed runs, with the status and model columns only
    status, page = get(f"{base}/env/dev/runs?model={MODEL}&status=FAILED&col=status&col=model")
    head, rows = headers_and_rows(page)
    # THEN the table has those columns and the one failed promotion of churn-pages
    assert status == 200
    assert head == ["compare", "run", "model", "status"]
    assert [r[1:] for r in rows] == [[f"promote-{MODEL}-newer", MODEL, "FAILED"]]
    # AND the form says what was chosen, so the address is the page (a deep link)
    assert re.search(r"<option selected>FAILED</option>", page) and 'value="kind">' in page
    assert 'value="status" checked' in page and 'value="kind" checked' not in page


def test_runs_filtered_by_the_winning_algorithm(base: str) -> None:
    status, page = get(f"{base}/env/dev/runs?model={MODEL}&algorithm=lightgbm&col=algorithm")
    head, rows = headers_and_rows(page)
    found = FOOTER.search(page)
    assert status == 200 and head == ["compare", "run", "algorithm"]
    assert [r[1:] for r in rows] == [[f"{MODEL}-boosted", "lightgbm"]]  # its losing random forest does not count
    assert found is not None and int(found.group(1)) < 12  # the listing's queries, the winner's GetItem, the models


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"models/{MODEL}?history_before=yesterday", "history_before"),
        (f"models/{MODEL}?audit_before=x%23y", "audit_before"),
        (f"models/{MODEL}?drift_before=soon", "drift_before"),
        (f"models/{MODEL}?promotions_after=no-such-run", "promotions_after"),
        ("runs?status=BOGUS", "status"),
        ("runs?algorithm=catboost", "algorithm"),
        ("runs?col=secret", "col"),
        ("runs?after=no-such-run", "after"),
    ],
)
def test_a_parameter_no_page_made_is_refused_naming_it(base: str, path: str, field: str) -> None:
    status, page = get(f"{base}/env/dev/{path}")
    assert status == 400 and f"{field}: " in page and "Traceback" not in page


def test_a_version_page_finds_its_promotions_by_bounded_reads(base: str) -> None:
    # GIVEN v2's promotion among the newest runs of the listing, v1's further back
    status, v2 = get(f"{base}/env/dev/models/{MODEL}/versions/2")
    _, v1 = get(f"{base}/env/dev/models/{MODEL}/versions/1")
    requests = [int(found.group(1)) for found in map(FOOTER.search, (v1, v2)) if found]
    # THEN v2's page names its promotion; v1's looks no further than the newest; each from a handful of requests
    # (its item, aliases, candidates, lineage, reproductions, its release's key, one page of the listing, and the
    # aliases where a promotion went, for the graph's environment)
    assert status == 200 and f"promote-{MODEL}-newer" in section(v2, "promotions")
    assert f"promote-{MODEL}-older" not in section(v1, "promotions")
    assert len(requests) == 2 and max(requests) <= 10


def test_the_models_page_finds_each_models_last_run_in_one_read_of_the_listing(base: str) -> None:
    status, page = get(f"{base}/models")
    row = page[page.index(f'<a href="/env/dev/models/{MODEL}">') :].split("</tr>", 1)[0]
    assert status == 200 and f'href="/env/dev/runs/{MODEL}-boosted">SUCCEEDED' in row
