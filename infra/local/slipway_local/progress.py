"""Shows a Step Functions execution's progress as it happens: each state as it starts and ends,
with timings, by polling the execution history (bounded)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

_ENTERED = "StateEntered"
_EXITED = "StateExited"


def follow_execution(sfn: Any, execution_arn: str, console: Console, timeout_s: float = 600.0) -> dict[str, Any]:
    """Print states as they enter/exit until the execution ends; returns describe_execution."""
    seen = 0
    entered_at: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    status = "RUNNING"
    with console.status("running…") as spinner:
        while True:
            events = _history(sfn, execution_arn)
            for event in events[seen:]:
                kind = event["type"]
                if kind.endswith(_ENTERED):
                    name = event["stateEnteredEventDetails"]["name"]
                    entered_at[name] = event["timestamp"].timestamp()
                    spinner.update(f"[bold]{name}[/] running…")
                elif kind.endswith(_EXITED):
                    name = event["stateExitedEventDetails"]["name"]
                    took = event["timestamp"].timestamp() - entered_at.get(name, event["timestamp"].timestamp())
                    console.print(f"  [green]✓[/] {name:<16} {took:6.2f} s")
                elif kind == "TaskFailed":
                    details = event.get("taskFailedEventDetails", {})
                    console.print(f"  [yellow]![/] task failed: {details.get('error')} (Retry/Catch decide next)")
            seen = len(events)
            described = sfn.describe_execution(executionArn=execution_arn)
            status = described["status"]
            if status != "RUNNING":
                if len(_history(sfn, execution_arn)) == seen:
                    return described  # type: ignore[no-any-return]
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still running after {timeout_s}s")
            time.sleep(0.05)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
