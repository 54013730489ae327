"""The console (`slipway ui`) as people use it, in headless Chromium after a demo-like loop in the local cloud: three
versions trained in dev, a quarantined upload, v1 promoted into staging and waiting for a person in prod. The
models page shows what serves where; a version page its metrics and its lineage graph; the compare page charts three
versions; a data engineer's approve is refused with the reason; prod's platform engineer approves from the inbox and
the promotion completes, audited in their name. Every page: no console message, no request leaving the console, and
no accessibility violation (axe-core). Needs Debian's chromium; without it the tests say so and are skipped."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from slipway.errors import Forbidden
from slipway.stores import audit
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli import commands, drift, features, promotion, reproducing
from slipway_cli.console.server import running
from slipway_cli.samples import corrupt, make_churn, to_csv_bytes
from slipway_cli.target import Target, target_in, team_target_in
from slipway_local import LocalCloud, iam
from slipway_local.cloud import ACCOUNTS
from tests.browser.chromium import CHROMIUM, FLAGS, available
from tests.conftest import ONE_FOREST, REPO_ROOT, spec_variant, upload_and_wait
from tests.statemachines.test_serving_api import json_rows

pytestmark = pytest.mark.skipif(
    not available(), reason=f"Debian's chromium is not installed ({CHROMIUM}): apt-get install chromium"
)

MODEL = "churn-ui"
AXE = Axe()


@dataclass
class World:
    cloud: LocalCloud
    operators: dict[str, Target]
    waiting: promotion.Started
    quarantined_run: str
    rolled_back: str


@pytest.fixture(scope="module")
def world(cloud: LocalCloud) -> Iterator[World]:
    """churn-ui: v1-v3 in dev (one small forest each), a corrupted upload quarantined, v1 in staging's production
    and its promotion into prod waiting for approval (requested by the operator)."""
    operators = {env: target_in(cloud, env) for env in ("dev", "staging", "prod")}
    # three samples of one population: the regression gate must not tell them apart (0.02 of AUC in specs/churn.yaml)
    # (and a canary bakes for 1 s)
    relaxed = {
        **ONE_FOREST,
        "max_regression: {roc_auc: 0.02}": "max_regression: {roc_auc: 0.2}",
        "bake: 10m": "bake: 1s",
    }
    push_spec(operators["dev"].deps, spec_variant(MODEL, **relaxed))
    for n in (1, 2, 3):
        run = upload_and_wait(cloud, "dev", f"{MODEL}/part-{n}.csv", to_csv_bytes(make_churn(n_rows=1_500, seed=n)))
        assert run.status == "SUCCEEDED", run.execution.get("cause")
    bad = upload_and_wait(cloud, "dev", f"{MODEL}/broken.csv", to_csv_bytes(corrupt(make_churn(n_rows=300), seed=7)))
    assert bad.status == "FAILED"
    staged = promotion.start(operators["staging"], f"{MODEL}@1", "dev", "first release")
    described, _ = promotion.follow(staged, stop_when_waiting=False, timeout_s=120, interval_s=0.2)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    # v2 canaried in staging against v1 without traffic: too few rows for a verdict, rolled back
    canaried = promotion.start(operators["staging"], f"{MODEL}@2", "dev", "a canary nobody calls")
    described, record = promotion.follow(canaried, stop_when_waiting=False, timeout_s=120, interval_s=0.2)
    assert record["status"] == "ROLLED_BACK", record
    waiting = promotion.start(operators["prod"], f"{MODEL}@production", "staging", "release to prod")
    _, record = promotion.follow(waiting, timeout_s=120, interval_s=0.2)
    assert record["status"] == "WAITING_FOR_APPROVAL"
    yield World(cloud, operators, waiting, bad.execution["name"], canaried.name)
    if waiting.record().get("status") == "WAITING_FOR_APPROVAL":  # a test stopped before approving: end it
        promotion.answer(team_target_in(cloud, "prod", "platform"), MODEL, False, "the console's tests ended")


@dataclass
class Visits:
    """A browser page that records what every visited page logged, threw or fetched from elsewhere."""

    page: Page
    base: str
    messages: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def open(self, path: str) -> Page:
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None
        self.check(path)
        return self.page

    def shot(self, name: str) -> Path:
        """A screenshot of what the page shows now: README's pictures (SLIPWAY_SCREENSHOTS=docs/images), else out/."""
        folder = Path(os.environ.get("SLIPWAY_SCREENSHOTS") or REPO_ROOT / "out" / "console")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"console-{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def check(self, path: str) -> None:
        """No console message (but Chromium's own notes on its software WebGL, which parallel coordinates draw
        with: 'GL Driver Message (OpenGL, Performance, …)'), nothing fetched from anywhere else, no accessibility
        violation."""
        said = [m for m in self.messages if not re.match(r"console\.warning: \[\.WebGL-\w+\]GL Driver Message", m)]
        assert said == [], f"{path}: {said}"
        assert self.foreign == [], f"{path} fetched {self.foreign}"
        results = AXE.run(self.page)
        assert results.violations_count == 0, f"{path}:\n{results.generate_report()}"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def _finally(end: Callable[[], None]) -> Iterator[None]:
    try:
        yield
    finally:
        end()


@contextmanager
def console(browser: Browser, targets: dict[str, Target]) -> Iterator[Visits]:
    """The console over ``targets`` on 127.0.0.1, and a fresh browser page on it."""
    with running(targets) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(30_000)
        visits = Visits(page, base)
        page.on("console", lambda m: visits.messages.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: visits.messages.append(f"exception: {e}"))
        page.on("request", lambda r: None if r.url.startswith(base) else visits.foreign.append(r.url))
        try:
            yield visits
        finally:
            context.close()


def reviewer(world: World) -> dict[str, Target]:
    """Prod's platform engineer (another person than the operator who requested the promotion); the operator
    elsewhere."""
    return {**world.operators, "prod": team_target_in(world.cloud, "prod", "platform")}


def test_the_models_page_shows_what_serves_where(world: World, chromium: Browser) -> None:
    # WHEN the reviewer opens the models page
    with console(chromium, reviewer(world)) as visits:
        page = visits.open("/models")
        visits.shot("models")
        staging = page.locator("section", has=page.locator("h2#env-staging"))
        prod = page.locator("section", has=page.locator("h2#env-prod"))
        staging_row = staging.locator("tr", has=page.get_by_role("link", name=MODEL, exact=True)).inner_text()
        prod_row = prod.locator("tr", has=page.get_by_role("link", name=MODEL, exact=True)).inner_text()
        dev_row = (
            page.locator("section", has=page.locator("h2#env-dev"))
            .locator("tr", has=page.get_by_role("link", name=MODEL, exact=True))
            .inner_text()
        )
        # AND follows the model to its page, then the quarantined run
        page.get_by_role("link", name=MODEL, exact=True).first.click()
        page.wait_for_load_state("load")
        visits.check("the model page")
        listed = page.locator("table", has=page.locator("caption", has_text="Versions of"))
        versions = listed.locator("tbody tr").count()
        page.locator("#metric-plot .scatterlayer .point").first.wait_for(state="attached")  # drawn after paint
        plotted = page.locator("#metric-plot .scatterlayer .point").count()
        # AND sorts the versions by roc_auc from the keyboard
        header = listed.get_by_role("button", name="roc_auc")
        header.focus()
        page.keyboard.press("Enter")
        column = [h.inner_text() for h in listed.locator("thead th").all()].index("roc_auc")
        by_auc = [float(t) for t in listed.locator(f"tbody tr td:nth-child({column + 1})").all_inner_texts()]
        sorted_as = listed.locator("th[aria-sort]").get_attribute("aria-sort")
        visits.check("the sorted versions")
        visits.open(f"/env/dev/runs/{world.quarantined_run}")
        quarantine = page.locator("section", has=page.locator("#quarantine")).inner_text()
        steps = page.locator("ol.timeline li").all_inner_texts()

    # THEN staging serves v1 alone, prod has none yet and waits for a person; dev's candidate is v3
    assert "production v1 · 100 %" in staging_row
    assert "production" not in prod_row and "v1 since" in prod_row
    assert "candidate → v3" in dev_row
    # AND the model page lists its three versions, its metric plotted for each; the run says why it was refused
    assert versions == 3 and plotted == 3
    assert by_auc == sorted(by_auc) and sorted_as == "ascending"
    assert "Quarantined" in quarantine and "missing_column" in quarantine and "plan" in quarantine
    assert re.search(r"not_null\s+6\s+[\d, ]+", quarantine)  # how many rows, and which
    names = [s.split("\n")[0] for s in steps]
    assert {"Validate", "RecordFailure"} <= set(names) and steps[-1].endswith("failed here")


def test_a_version_page_shows_its_metrics_and_lineage(world: World, chromium: Browser) -> None:
    with console(chromium, reviewer(world)) as visits:
        page = visits.open(f"/env/dev/models/{MODEL}/versions/1")
        page.locator("#lineage").scroll_into_view_if_needed()
        visits.shot("lineage")
        metrics = page.locator("table.metrics tbody th").all_inner_texts()
        kinds = page.locator("svg.lineage g.node text.kind").all_text_contents()
        labels = page.locator("svg.lineage g.node").evaluate_all("gs => gs.map(g => g.dataset.node)")
        card = page.frame_locator("iframe.artifact").locator("h1").inner_text()
        downloads = page.locator("#downloads + ul a").all_inner_texts()
        onwards = page.locator("section", has=page.locator("h2#promotions")).get_by_role("link").first
        onwards_href = onwards.get_attribute("href") or ""
        with page.expect_download() as downloaded:
            page.get_by_role("link", name="model.onnx").click()
        onnx = downloaded.value.path().read_bytes()
        # AND the run that trained it: its steps and the data it learned from, column by column
        page.get_by_role("link", name=re.compile(f"^{MODEL}-part-1-")).first.click()
        page.wait_for_load_state("load")
        visits.check("the training run")
        steps = [s.split("\n")[0] for s in page.locator("ol.timeline li").all_inner_texts()]
        profile = page.locator("section", has=page.locator("#profile")).inner_text()

    assert "roc_auc" in metrics
    kinds_named = {"raw upload", "curated dataset", "spec", "feature set", "run", "model version", "promotion"}
    assert kinds_named | {"environment"} <= set(kinds)
    assert f"model:{MODEL}:1" in labels and any(f"{MODEL}/part-1.csv" in n for n in labels)
    assert "env:staging: v1 (production)" in labels  # where its promotion went, and what it serves as there
    assert MODEL in card
    assert "model.onnx" in downloads and "model_card.html" in downloads
    assert onwards_href.startswith("/env/staging/runs/promote-churn-ui-1-from-dev-")  # recorded where it went
    assert {"Validate", "Features", "Evaluate", "Register"} <= set(steps)
    assert "hashed (PII)" in profile and "tenure_months" in profile
    recorded = ModelRegistry.of(world.operators["dev"].deps).get_version(MODEL, 1)["artifacts"]["model.onnx"]
    assert hashlib.sha256(onnx).hexdigest() == recorded["sha256"]  # the bytes the registry vouches for


def test_the_compare_page_charts_three_versions(world: World, chromium: Browser) -> None:
    with console(chromium, reviewer(world)) as visits:
        page = visits.open(f"/env/dev/models/{MODEL}")
        for n in (1, 2, 3):
            page.get_by_label(f"compare v{n}").check()
        page.get_by_role("button", name="Compare the chosen versions").click()
        page.wait_for_load_state("load")
        visits.check("the compare page")
        headers = page.locator("table").first.locator("thead th").all_inner_texts()
        per_label = page.locator("table", has=page.locator("caption", has_text="Per label")).locator("tbody tr")
        label_rows = per_label.count()
        assert page.locator("#parallel-plot").count() == 1, page.locator("#main").inner_text()
        page.locator("#parallel-plot .parcoords").first.wait_for(state="attached")  # the last chart drawn
        visits.check("the compare page's charts")
        traces = page.locator("#compare-plot .barlayer .trace").count()
        axes = page.locator("#parallel-plot .parcoords .y-axis").count()
        # AND the three runs that trained them, chosen on the runs page
        page = visits.open(f"/env/dev/runs?model={MODEL}")
        for n in (1, 2, 3):
            page.get_by_label(re.compile(f"^compare {MODEL}-part-{n}-")).check()
        page.get_by_role("button", name="Compare the chosen runs").click()
        page.wait_for_load_state("load")
        page.locator("#parallel-plot .parcoords").first.wait_for(state="attached")
        visits.check("the compared runs")
        run_headers = page.locator("table thead th").all_inner_texts()
        run_traces = page.locator("#compare-plot .barlayer .trace").count()
        compared_runs = page.locator("table tbody").inner_text()

    assert headers[1:] == ["v1", "v2", "v3"]
    assert label_rows == 2 * 3  # churned or not: precision, recall and f1 of each
    assert traces == 3
    assert axes >= 4  # version, algorithm, a hyperparameter or more, the validation metric
    assert run_headers[1:] == ["run 1", "run 2", "run 3"] and run_traces == 3
    assert all(f"{MODEL}-part-{n}-" in compared_runs for n in (1, 2, 3)) and "test roc_auc" in compared_runs


def test_a_data_engineer_sees_approve_refused_with_the_reason(world: World, chromium: Browser) -> None:
    # GIVEN prod's data engineer, who may read the registry and the runs but not answer approvals
    engineer = {"prod": team_target_in(world.cloud, "prod", "data-engineer")}
    iam.enable()  # the local cloud enforces IAM on every call, as AWS does (off elsewhere in the suite, for speed)
    with console(chromium, engineer) as visits, _finally(iam.disable):
        page = visits.open("/approvals")
        # WHEN they try to approve the waiting promotion
        card = page.locator(f"article#prod-{MODEL}")
        card.get_by_label("Reason").fill("looks fine to me")
        card.get_by_role("button", name="Approve").click()
        page.wait_for_load_state("load")
        visits.check("the refused approval")
        said = page.get_by_role("alert").first.inner_text()

        # AND on the version's page they read the registry, but not the model card (the registry is theirs to read,
        # the models are not)
        page = visits.open(f"/env/prod/models/{MODEL}/versions/1")
        metrics = page.locator("table.metrics").inner_text()
        in_frame = page.frame_locator("iframe.artifact").get_by_role("alert").inner_text()

    # THEN the page says their role may not, with AWS's reason; the promotion still waits
    assert "your role slipway-prod-data-engineer may not approve the promotion of churn-ui in prod" in said
    assert "execute-api:Invoke" in said and "Traceback" not in said
    assert world.waiting.record()["status"] == "WAITING_FOR_APPROVAL"
    assert "roc_auc" in metrics
    assert "your role slipway-prod-data-engineer may not read model_card.html of churn-ui v1 in prod" in in_frame


def test_a_reviewer_approves_from_the_inbox_and_the_promotion_completes(world: World, chromium: Browser) -> None:
    with console(chromium, reviewer(world)) as visits:
        page = visits.open("/approvals")
        card = page.locator(f"article#prod-{MODEL}")
        compared = card.locator("table").inner_text()
        drift_said = card.locator("p", has_text="Last drift check").inner_text()
        card.scroll_into_view_if_needed()
        visits.shot("approvals")
        # WHEN prod's platform engineer approves it with a reason
        card.get_by_label("Reason").fill("reviewed the model card")
        card.get_by_role("button", name="Approve").click()
        page.wait_for_load_state("load")
        visits.check("the approval")
        said = page.get_by_role("status").inner_text()

    # THEN the console says so, the promotion completes and v1 serves in prod, audited in the reviewer's name
    assert "roc_auc" in compared
    assert drift_said == "Last drift check in prod: none yet."
    assert said == f"approved {MODEL} v1 in prod"
    described, record = promotion.follow(world.waiting, stop_when_waiting=False, timeout_s=120, interval_s=0.2)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert ModelRegistry.of(world.operators["prod"].deps).aliases(MODEL) == {"production": 1}
    approved = [e for e in audit.trail(world.operators["prod"].deps, MODEL) if e["kind"] == "approved"]
    member = f"arn:aws:sts::{ACCOUNTS['prod']}:assumed-role/slipway-prod-platform/platform-member"
    assert [(e["principal"], e["reason"]) for e in approved] == [(member, "reviewed the model card")]
    assert record["approval"]["by"] == member


def predict(cloud: LocalCloud, env: str, rows: list[dict[str, Any]]) -> None:
    url = f"{cloud.api_url(env)}/v1/models/{MODEL}/predict"
    body = json.dumps({"instances": rows}).encode()
    headers = cloud.signed_headers(env, "POST", url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=30):
        pass


def test_every_page_of_prod_after_the_release(world: World, chromium: Browser) -> None:
    """Runs, the prod model page with a drift check charted per feature and its report in place, the version page
    (its lineage crosses three accounts), the inbox when empty."""
    # GIVEN traffic on v1 in prod and a drift check of it, as `slipway drift churn-ui --env prod` runs one
    for n in range(3):
        predict(world.cloud, "prod", json_rows(100, seed=60 + n))
    checked, _ = drift.check(world.operators["prod"], MODEL, "1h", timeout_s=120)
    assert checked["status"] == "checked", checked
    with console(chromium, reviewer(world)) as visits:
        page = visits.open("/env/prod/runs")
        page.get_by_label("filter by model").select_option(MODEL)
        page.get_by_role("button", name="Show").click()
        page.wait_for_load_state("load")
        visits.check("the runs of one model")
        listed = page.locator("tbody tr td:nth-child(4)").all_inner_texts()  # the model column
        page = visits.open(f"/env/prod/models/{MODEL}")
        page.locator("#drift-plot .scatterlayer .trace").first.wait_for(state="attached")
        features = page.locator("#drift-plot .scatterlayer .trace").count()
        page.locator("#promotions-plot .barlayer .trace").first.wait_for(state="attached")
        phases = page.locator("#promotions-plot .legendtext").all_text_contents()
        page.get_by_role("link", name="report").first.click()
        page.wait_for_load_state("load")
        report = page.locator("h2").all_inner_texts()
        assert visits.messages == []
        page = visits.open(f"/env/prod/models/{MODEL}/versions/1")
        labels = page.locator("svg.lineage g.node").evaluate_all("gs => gs.map(g => g.dataset.node)")
        # AND the promotion whose canary was rolled back in staging: the challenger beside the champion
        page = visits.open(f"/env/staging/runs/{world.rolled_back}")
        canary = page.locator("section", has=page.locator("#canary")).inner_text()
        visits.open("/approvals")
        waiting_here = page.locator(f"article#prod-{MODEL}").count()

    assert listed and set(listed) == {MODEL}  # the promotion into prod, and nothing of other models
    assert features >= 10  # one line per feature of the contract
    assert {"promotion", "waiting for a person"} <= set(phases)  # the release waited for the reviewer
    assert report[:2] == ["Summary", "Features"]  # the drift report as the drift machine wrote it
    assert f"model:{MODEL}:1@staging" in labels and f"model:{MODEL}:1@dev" in labels
    assert waiting_here == 0  # (other tests' models may wait in this local cloud)
    assert "challenger v2 beside champion v1" in canary and "Not healthy" in canary
    assert re.search(r"rows\s+0\s+0", canary)  # nobody called either variant during the bake


def test_runs_are_filtered_and_their_columns_chosen_from_the_keyboard(world: World, chromium: Browser) -> None:
    with console(chromium, reviewer(world)) as visits:
        page = visits.open("/env/dev/runs")
        # WHEN a person picks churn-ui's failed runs and the algorithm column instead of the kind, keyboard only
        page.get_by_label("filter by model").select_option(MODEL)
        page.get_by_label("filter by status").select_option("FAILED")
        page.get_by_role("checkbox", name="kind").focus()
        page.keyboard.press("Space")
        page.get_by_role("checkbox", name="algorithm").focus()
        page.keyboard.press("Space")
        page.get_by_role("button", name="Show").focus()
        with page.expect_navigation(wait_until="load"):
            page.keyboard.press("Enter")
        visits.check("the filtered runs")
        address = page.url
        headers = page.locator("table.sortable thead th").all_inner_texts()
        failed = page.locator("table.sortable tbody th").all_inner_texts()
        # AND the random forests of churn-ui, from a link pasted elsewhere
        visits.open(f"/env/dev/runs?model={MODEL}&algorithm=random_forest&col=algorithm&col=version")
        forests = page.locator("table.sortable tbody tr").all_inner_texts()

    # THEN the address holds every choice, the table the chosen columns, and only the refused upload
    assert "status=FAILED" in address and f"model={MODEL}" in address and "col=algorithm" in address
    assert "col=kind" not in address
    assert headers == ["compare", "run", "model", "status", "algorithm", "started", "ended", "version", "outcome"]
    assert failed == [world.quarantined_run]
    assert len(forests) == 3 and all("random_forest" in row for row in forests)  # the three training runs


def test_the_approval_card_shows_the_canary_a_version_had_on_its_way(world: World, chromium: Browser) -> None:
    # GIVEN staging's v2, whose canary there was rolled back, asked into prod (after v1's release)
    if world.waiting.record().get("status") == "WAITING_FOR_APPROVAL":
        promotion.answer(team_target_in(world.cloud, "prod", "platform"), MODEL, True, "v1 first")
        promotion.follow(world.waiting, stop_when_waiting=False, timeout_s=120, interval_s=0.2)
    asked = promotion.start(world.operators["prod"], f"{MODEL}@2", "staging", "v2 to prod")
    _, record = promotion.follow(asked, timeout_s=120, interval_s=0.2)
    assert record["status"] == "WAITING_FOR_APPROVAL", record
    try:
        with console(chromium, reviewer(world)) as visits:
            page = visits.open("/approvals")
            card = page.locator(f"article#prod-{MODEL}")
            cause = card.locator("section.cause").inner_text()
            canaries = card.locator("section.canaries").inner_text()
    finally:
        promotion.answer(team_target_in(world.cloud, "prod", "platform"), MODEL, False, "its canary failed")

    # THEN the reviewer reads why it exists and how its canary in staging went, numbers beside the champion's
    assert "Not a drift's retraining" in cause and f"{MODEL}/part-2.csv" in cause
    assert f"In staging ({world.rolled_back}, ROLLED_BACK): challenger v2 beside champion v1, not healthy" in canaries
    assert re.search(r"rows\s+0\s+0", canaries)


def test_a_reproduction_is_recorded_in_the_reproducers_name_and_shown_on_the_version_page(
    world: World, chromium: Browser
) -> None:
    # GIVEN dev's ML engineer reproduces v1, as `slipway reproduce churn-ui@1 --env dev` does with their profile, and
    # the data engineer tries to record the same result; IAM enforced as AWS does
    engineer = team_target_in(world.cloud, "dev", "ml-engineer")
    iam.enable()
    with _finally(iam.disable):
        result, _ = commands.reproduce_model(engineer.deps, f"{MODEL}@1")
        kept = reproducing.record(engineer, result)
        with pytest.raises(Forbidden) as refused:
            reproducing.record(team_target_in(world.cloud, "dev", "data-engineer"), result)
    # WHEN anyone opens the version's page
    with console(chromium, reviewer(world)) as visits:
        page = visits.open(f"/env/dev/models/{MODEL}/versions/1")
        shown = page.locator("section", has=page.locator("h2#reproductions")).inner_text()

    # THEN it shows who reproduced it, when, on which machine, and what came out, metric by metric
    said = {"identical": "identical", "within_tolerance": "within tolerance", "different": "different"}
    assert result["reproduced"], result
    assert "role slipway-dev-ml-engineer" in shown and kept["at"][:19].replace("T", " ") in shown.replace("T", " ")
    assert f"slipway reproduce (CLI) on {platform.node()}" in shown and said[result["status"]] in shown
    assert "roc_auc" in shown
    # AND the data engineer's record was refused by the route's authorization: one record, the engineer's
    assert "execute-api:Invoke" in refused.value.message and shown.count("slipway reproduce (CLI) on") == 1


def test_the_feature_view_pages_are_accessible(world: World, chromium: Browser, tmp_path: Path) -> None:
    # GIVEN a feature view pushed in dev and one upload materialised into it, through the CLI's own calls
    dev = world.operators["dev"]
    text = (REPO_ROOT / "specs" / "feature_views" / "customer-activity.yaml").read_text()
    features.push(dev, text, "browser test")
    upload = tmp_path / "activity.csv"
    upload.write_text(
        "customer_id,event_time,num_logins_30d,avg_session_minutes\n"
        "C000001,2026-11-30T10:00:00+00:00,12,30.5\nC000002,2026-12-01T09:00:00+00:00,3,\n"
    )
    materialised, _ = features.materialise(dev, "customer-activity", upload)
    assert materialised["status"] == "SUCCEEDED", materialised
    # WHEN a person opens the views of dev and the view's page THEN they read its features and its version, and both
    # pages pass axe with no console message
    with console(chromium, world.operators) as visits:
        page = visits.open("/env/dev/views")
        assert page.get_by_role("link", name="customer-activity").count() == 1
        page = visits.open("/env/dev/views/customer-activity")
        features_table = page.get_by_role("table", name=re.compile("What a model may take"))
        assert "num_logins_30d" in features_table.inner_text()
        versions = page.get_by_role("table", name=re.compile("Each upload"))
        assert "2026-11-30" in versions.inner_text()
