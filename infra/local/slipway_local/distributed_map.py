"""What moto's Distributed Map does differently from AWS, brought in line (moto 5.2.5):

- a failed child does not fail the Map Run: moto counts it and goes on, and the Map succeeds with a null
  result. AWS fails the Map Run with ``States.ExceedToleratedFailureThreshold`` once more children fail than
  ``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` allow (both 0 by default). Here the Map fails the
  same way after its children ran (AWS also stops starting new ones; this does not);
- the S3 ItemReader (``s3:listObjectsV2``) reads one page (at most 1,000 objects) and fails with
  ``States.Runtime`` ('Contents') on a prefix with no object; AWS lists every page and gives no items.
"""

from __future__ import annotations

from typing import Any

_installed: dict[str, bool] = {}


def install() -> None:
    """Apply both corrections (idempotent)."""
    if _installed.get("done"):
        return
    _fail_the_map_past_its_tolerance()
    _list_every_page()
    _installed["done"] = True


def exceeds_tolerance(failed: int, total: int, count: int, percentage: float) -> bool:
    """AWS's rule: the Map Run fails when failed items exceed the tolerated count or percentage; with neither
    set, one failure fails it. (moto gives 0 for a threshold not declared, so 0 counts as unset here unless
    both are 0.)"""
    if failed == 0:
        return False
    if count <= 0 and percentage <= 0:
        return True
    return (count > 0 and failed > count) or (percentage > 0 and total > 0 and 100.0 * failed / total > percentage)


def _fail_the_map_past_its_tolerance() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = DistributedIterationComponent._map_run

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        items = eval_input.map_run_record.item_counter
        failed = items.failed.get() + items.timed_out.get()
        total = items.total.get()
        count, percentage = eval_input.tolerated_failure_count, eval_input.tolerated_failure_percentage
        if not exceeds_tolerance(failed, total, int(count or 0), float(percentage or 0)):
            return
        env.stack.pop()  # the children's outputs: the Map has none when its run fails
        error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
        cause = (
            f"{failed} of {total} items failed: more than the tolerated failure threshold "
            f"({count or 0} items, {percentage or 0}%)"
        )
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=error,
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto types every key as required
                    mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.error_name, cause=cause)
                ),
            )
        )

    DistributedIterationComponent._map_run = _map_run  # type: ignore[method-assign]


def _list_every_page() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )

    def _handle_list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        s3 = ResourceEvalS3._get_s3_client(
            resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
        )
        parameters = dict(env.stack.pop())
        contents: list[Any] = []
        while True:
            page = s3.list_objects_v2(**parameters)
            contents.extend(page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            parameters["ContinuationToken"] = page["NextContinuationToken"]
        env.stack.append(contents)

    ResourceEvalS3._handle_list_objects_v2 = staticmethod(_handle_list_objects_v2)  # type: ignore[method-assign]
