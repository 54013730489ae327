"""The local cloud's EventBridge InputTransformer fills a JSON template as AWS does (moto pastes raw text)."""

from __future__ import annotations

from slipway_local.execution_events import transform_input

EVENT = {
    "detail": {"name": "run-1", "status": "FAILED", "cause": 'a "quoted" cause', "error": None, "n": 3},
    "resources": ["arn:1"],
}
PATHS = {
    "name": "$.detail.name",
    "cause": "$.detail.cause",
    "error": "$.detail.error",
    "n": "$.detail.n",
    "missing": "$.detail.nowhere",
    "resources": "$.resources",
}


def test_values_outside_strings_are_json() -> None:
    template = '{"run": <name>, "cause": <cause>, "error": <error>, "n": <n>, "gone": <missing>, "r": <resources>}'
    assert transform_input(template, PATHS, EVENT) == {
        "run": "run-1",
        "cause": 'a "quoted" cause',
        "error": None,
        "n": 3,
        "gone": None,
        "r": ["arn:1"],
    }


def test_values_inside_strings_are_text() -> None:
    template = '{"summary": "run <name> ended: <cause> (<missing>)"}'
    assert transform_input(template, PATHS, EVENT) == {"summary": 'run run-1 ended: a "quoted" cause ()'}
