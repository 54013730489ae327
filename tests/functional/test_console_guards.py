"""The console's guards, as another site's page would meet them: a request naming another host is refused (DNS
rebinding), and an approve posted without the console's token, or from another origin, changes nothing. Pages are
sent with a Content-Security-Policy that loads nothing from elsewhere."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from slipway_cli.console.server import running
from slipway_cli.target import Target

TOKEN = "the-consoles-own-token"


def send(url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def base(dev: Target) -> Iterator[str]:
    with running({"dev": dev}, token=TOKEN) as url:
        yield url


def test_a_request_naming_another_host_is_refused(base: str) -> None:
    status, body = send(f"{base}/models", headers={"Host": "evil.example:8765"})
    assert status == 421 and "127.0.0.1 only" in body


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({"decision": "approve", "reason": "forged"}, {}),  # no token
        ({"decision": "approve", "reason": "forged", "token": "guessed"}, {}),  # a wrong one
        ({"decision": "approve", "reason": "forged", "token": TOKEN}, {"Origin": "http://evil.example"}),
        ({"decision": "approve", "reason": "forged", "token": TOKEN}, {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["no-token", "wrong-token", "other-origin", "cross-site"],
)
def test_a_cross_site_approve_is_refused(base: str, form: dict[str, str], headers: dict[str, str]) -> None:
    status, body = send(f"{base}/env/dev/models/churn/approval", data=form, headers=headers)
    assert status == 403 and "must come from the console's own page" in body


def test_pages_load_only_the_consoles_own_assets(base: str) -> None:
    request = urllib.request.Request(f"{base}/models")
    with urllib.request.urlopen(request, timeout=30) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'self'" in policy
