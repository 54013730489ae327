"""The places where moto is extended so that it realises slipway's template:
Lambda runs our handlers in-process, EventBridge rules deliver to Lambda (asynchronous invocation:
retries, then the function's on-failure destination), Step Functions and SNS topics, CloudFormation state
machines land in the executing backend with their substitutions applied, execution names are
unique as on AWS even when two starts race, ended executions publish their status change
(slipway_local.execution_events), DynamoDB requests are atomic and transactions cost what they touch
(slipway_local.dynamodb), the Step Functions interpreter calls AWS as the
machine's own account, CloudFormation creates HTTP APIs and Firehose delivery streams
(slipway_local.resources), Firehose delivers to S3 as AWS does (slipway_local.firehose), a
Distributed Map fails past its tolerated failures and lists every page of its S3 items
(slipway_local.distributed_map), a Task's ``states:startExecution`` names its parameters and reads its
answer as Step Functions does, events sent to another account's bus arrive as sent, when its policy allows
(slipway_local.event_buses), and bucket policies and Lambda resource policies are evaluated
between accounts (slipway_local.perimeter), OIDC federation (slipway_local.web_identity) and what `sam deploy` needs of
CloudFormation: its TemplateURL, the SAM transform, change sets, and the deploying principal's rights
(slipway_local.cfn_deploy)."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from typing import Any

from slipway_local import (
    cfn_deploy,
    distributed_map,
    dynamodb,
    event_buses,
    execution_events,
    firehose,
    iam,
    lambda_aliases,
    perimeter,
    resources,
    web_identity,
)
from slipway_local.lambda_runtime import LambdaRuntime
from slipway_local.routing import (
    install_account_routing,
    install_state_machine_credentials,
    install_thread_inheritance,
)

_installed: dict[str, Any] = {}
_lock = threading.Lock()


def install(runtime: LambdaRuntime) -> None:
    """Apply every patch (idempotent); the given runtime serves Lambda invocations."""
    with _lock:
        _installed["runtime"] = runtime
        if _installed.get("done"):
            return
        _enable_state_machine_execution()
        install_account_routing()
        install_thread_inheritance()
        install_state_machine_credentials()
        _patch_lambda()
        _patch_event_targets()
        _patch_cloudformation_state_machine()
        _patch_atomic_execution_names()
        _patch_start_execution_task()
        execution_events.install()
        dynamodb.install()
        resources.install()
        lambda_aliases.install()
        firehose.install()
        distributed_map.install()
        perimeter.install()
        iam.install()  # enforcement itself is off until iam.enable()
        web_identity.install()  # after iam: it lets the unsigned federation calls through
        cfn_deploy.install()
        _patch_send_task_failure()
        _installed["done"] = True


def _runtime() -> LambdaRuntime:
    return _installed["runtime"]  # type: ignore[no-any-return]


def _enable_state_machine_execution() -> None:
    from moto.core.config import default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True


def _patch_send_task_failure() -> None:
    """moto's SendTaskFailure drops the ``cause``; AWS hands it to the Catch (``$.error.Cause``)."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


def _patch_lambda() -> None:
    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return _runtime().invoke(self, event if event is not None else {})

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


def _patch_event_targets() -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        # A schedule rule has no event pattern, which moto's matcher takes as "every event": on AWS it matches
        # none, and fires only at its time (slipway_local.schedules fires it).
        if self.scheduled_expression or not self.event_pattern.matches_event(original_event):
            return
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in ("lambda", "states", "sns")]
        buses = [t for t in self.targets if _other_accounts_bus(t["Arn"], self.account_id)]
        others = [t for t in self.targets if t not in ours and t not in buses]
        for target in buses:
            event_buses.deliver(self.account_id, self.name, target, original_event)
        if others:
            rule = copy.copy(self)
            rule.targets = others
            original(rule, original_event, transform_input)
        for target in ours:
            event = original_event
            if transform_input and target.get("InputTransformer"):
                transformer = target["InputTransformer"]
                event = execution_events.transform_input(
                    transformer.get("InputTemplate", ""), transformer.get("InputPathsMap", {}), original_event
                )
            elif transform_input and target.get("Input"):
                event = json.loads(target["Input"])
            _deliver(target["Arn"], event)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _other_accounts_bus(arn: str, account: str) -> bool:
    return ":event-bus/" in arn and arn.split(":")[4] != account


def _deliver(arn: str, event: Any) -> None:
    """Deliver one event to a Lambda function (async invoke), a state machine (new execution) or an SNS topic
    (published as is: a transformed text, or the event's JSON)."""
    from moto.utilities.arns import parse_arn

    parsed = parse_arn(arn)
    payload = json.dumps(event, default=str)
    if parsed.service == "sns":
        from moto.sns.models import sns_backends

        message = event if isinstance(event, str) else payload
        sns_backends[parsed.account][parsed.region].publish(message=message, arn=arn)
    elif parsed.service == "states":
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[parsed.account][parsed.region]
        backend.start_execution(arn, name=f"evt-{uuid.uuid4().hex}", execution_input=payload)
    else:
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[parsed.account][parsed.region].get_function(arn)
        _runtime().invoke_async(fn, payload)


def _patch_atomic_execution_names() -> None:
    """moto checks a new execution's name against the machine's executions, then adds it, with no lock:
    two starts of one name at the same moment (a duplicate event) would both run. Step Functions
    refuses the second; so does the local cloud, by making the check and the start one step."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution
    names = threading.Lock()

    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        with names:
            return original(self, *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _patch_start_execution_task() -> None:
    """moto's interpreter hands a ``states:startExecution`` Task's parameters to boto3 as the state names them
    (``StateMachineArn``, ``Input``), which boto3 refuses (``stateMachineArn``), and passes boto3's answer
    (``executionArn``) on as the state's result, where Step Functions gives ``ExecutionArn``: both renamed."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    normalise_parameters = StateTaskServiceSfn._normalise_parameters

    def parameters(self: Any, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        normalise_parameters(self, parameters, *args, **kwargs)  # Input (an object) becomes its JSON text
        for key in [k for k in parameters if k[:1].isupper()]:
            parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

    def response(self: Any, response: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(response, dict):
            for key in [k for k in response if k[:1].islower()]:
                response[key[:1].upper() + key[1:]] = response.pop(key)

    StateTaskServiceSfn._normalise_parameters = parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = response  # type: ignore[method-assign]


def _patch_cloudformation_state_machine() -> None:
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.utils import cfn_to_api_tags

    def _definition(properties: dict[str, Any], account_id: str) -> str:
        definition = properties.get("DefinitionString") or json.dumps(properties.get("Definition", {}))
        location = properties.get("DefinitionS3Location")  # where `sam deploy` uploaded a DefinitionUri file
        if location:
            from moto.s3.models import s3_backends

            stored = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
            definition = stored.value.decode()  # type: ignore[union-attr]
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        return definition

    def create(
        cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            properties.get("StateMachineName", resource_name),
            _definition(properties, account_id),
            properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
        )

    def delete(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
        stepfunctions_parser_backends[account_id][region_name].delete_state_machine(resource_name)

    def update(
        cls: Any,
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.update_state_machine(
            original_resource.arn, definition=_definition(properties, account_id), role_arn=properties.get("RoleArn")
        )

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    StateMachine.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign,assignment]
    StateMachine.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]
