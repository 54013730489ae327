"""The drift report as a person opens it: headless Chromium loads the page from disk; the summary comes first;
every chart is drawn (its bars have height where the share is not zero); no network request, no console message,
no exception. Needs Debian's chromium (/usr/bin/chromium); without it the test says so and is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.contracts.drift import DriftRequest
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.steps.drift.compute_drift import compute_drift
from tests.browser.chromium import CHROMIUM, Browser, available
from tests.unit.drift.conftest import dev, production, serve  # noqa: F401 - fixtures
from tests.unit.drift.test_drift_steps import shifted

pytestmark = pytest.mark.skipif(
    not available(), reason=f"Debian's chromium is not installed ({CHROMIUM}): apt-get install chromium"
)

CHARTS = """
[...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect.bar')];
  return {width: box.width, height: box.height, bars: bars.length,
          drawn: bars.filter(r => r.getBBox().height > 0).length,
          nonzero: bars.filter(r => parseFloat(r.getAttribute('height')) > 0).length};
})
"""


def test_the_report_renders_its_charts_with_a_clean_console(dev: Deps, tmp_path: Path) -> None:  # noqa: F811
    # GIVEN a check of traffic with two features shifted, its report saved as `slipway drift report` saves it
    serve(dev, 300, shift=shifted)
    check = compute_drift(dev, DriftRequest(model="churn", check_id="browser"))
    page = tmp_path / "report.html"
    page.write_bytes(dev.store.get_bytes(S3Object.parse(str(check.report_uri))))

    # WHEN Chromium opens it
    with Browser() as browser:
        browser.open(page.as_uri())
        headings = browser.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
        charts = browser.evaluate(CHARTS)
        verdicts = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('section.feature')]"
            ".map(s => [s.id, s.querySelector('.badge').textContent]))"
        )
        resources = browser.evaluate("performance.getEntriesByType('resource').length")
        console, requests = browser.console(), browser.requests

    # THEN the summary comes first, each feature has its two charts drawn side by side, and nothing was logged
    assert headings == ["Summary", "Features", "Distributions"]
    assert len(charts) == 2 * len(verdicts) and len(verdicts) >= 10
    assert all(c["width"] > 0 and c["height"] > 0 and c["bars"] >= 2 for c in charts)
    assert all(c["drawn"] == c["nonzero"] > 0 for c in charts)
    assert verdicts["f-tenure_months"] == "drift" and verdicts["f-contract_type"] == "drift"
    assert resources == 0 and requests == [], "the report loads nothing from anywhere"
    assert console == []
