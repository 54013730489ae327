"""Shows a Step Functions execution's progress as it happens: each state as it starts and ends,
with timings, by polling the execution history (bounded)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from slipway_local.polling import poll

_ENTERED = "StateEntered"
_EXITED = "StateExited"


def follow_execution(sfn: Any, execution_arn: str, console: Console, timeout_s: float = 600.0) -> dict[str, Any]:
    """Print states as they enter/exit until the execution ends; returns describe_execution."""
    shown = 0
    entered_at: dict[str, float] = {}

    with console.status("running…") as spinner:

        def show_new_events() -> None:
            nonlocal shown
            events = _history(sfn, execution_arn)
            for event in events[shown:]:
                kind, at = event["type"], event["timestamp"].timestamp()
                if kind.endswith(_ENTERED):
                    name = event["stateEnteredEventDetails"]["name"]
                    entered_at[name] = at
                    spinner.update(f"[bold]{name}[/] running…")
                elif kind.endswith(_EXITED):
                    name = event["stateExitedEventDetails"]["name"]
                    console.print(f"  [green]✓[/] {name:<16} {at - entered_at.get(name, at):6.2f} s  {_detail(event)}")
                elif kind == "TaskFailed":
                    details = event.get("taskFailedEventDetails", {})
                    console.print(f"  [yellow]![/] task failed: {details.get('error')} (Retry/Catch decide next)")
            shown = len(events)

        def ended() -> dict[str, Any] | None:
            show_new_events()
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] == "RUNNING":
                return None
            show_new_events()  # the events written between the last read and the end
            return described

        return poll(ended, timeout_s=timeout_s, what=f"{execution_arn} still running")


def _detail(event: dict[str, Any]) -> str:
    """A few words on what a state produced (a trained candidate's score, a registered version)."""
    try:
        output = json.loads(event["stateExitedEventDetails"].get("output") or "{}")
    except json.JSONDecodeError:
        return ""
    if isinstance(output, dict) and "algorithm" in output and "metrics" in output:
        params = ", ".join(f"{k}={v}" for k, v in output["params"].items())
        first = next(((k, v) for k, v in output["metrics"].items() if isinstance(v, float)), None)
        score = f" → valid {first[0]} {first[1]:.3f}" if first else ""
        return escape(f"{output['algorithm']}({params}){score}")
    if isinstance(output, dict) and isinstance(output.get("model"), dict) and "version" in output["model"]:
        return f"{output['model']['model']} v{output['model']['version']}"
    return ""


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
