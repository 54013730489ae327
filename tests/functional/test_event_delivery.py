"""EventBridge rules deliver to Lambda in the local cloud as on AWS (moto alone delivers only to
SQS, logs and buses): a scheduled-style rule with a constant Input runs the function in-process."""

from __future__ import annotations

import json

from slipway import layout
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import load_event


def test_a_rule_delivers_its_input_to_a_lambda_target(cloud: LocalCloud, dev: Target) -> None:
    # GIVEN a rule in dev whose target is the record-failure function, with a constant input
    events = cloud.client("events", "dev")
    function_name = cloud.environments["dev"].functions["RecordFailureFunction"]
    function_arn = cloud.client("lambda", "dev").get_function(FunctionName=function_name)["Configuration"][
        "FunctionArn"
    ]
    payload = {**load_event("record_failure/catch.json"), "run_id": "delivered-by-eventbridge"}
    events.put_rule(Name="ops-alert", EventPattern=json.dumps({"source": ["slipway.ops"]}))
    events.put_targets(Rule="ops-alert", Targets=[{"Id": "1", "Arn": function_arn, "Input": json.dumps(payload)}])

    # WHEN a matching event is put on the default bus
    events.put_events(Entries=[{"Source": "slipway.ops", "DetailType": "Alert", "Detail": "{}"}])

    # THEN the function ran (asynchronously) in dev and recorded the run
    def recorded() -> dict[str, object] | None:
        # moto applies an UpdateItem's attributes one at a time: wait for the whole record, not its first field
        item = dev.deps.table.get(*layout.run_key("delivered-by-eventbridge"))
        return item if item and "error_type" in item else None

    item = poll(recorded, timeout_s=10, what="no run recorded")
    assert (item["status"], item["error_type"]) == ("FAILED", "DataContractViolation")
