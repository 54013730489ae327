"""Every moto internal the local cloud replaces, with the signature its replacement expects and the moto
behaviour it corrects. moto is pinned exactly; when a new moto renames or reshapes one of these, ``check``
fails naming the patch, instead of a state machine failing deep inside the interpreter. The table in
docs/local-cloud.md is this list (a test keeps the two and the patch sites in step)."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

__all__ = ["TARGETS", "MotoTargetChanged", "Target", "check", "resolve"]

SFN_PARSER = "moto.stepfunctions.parser.asl.component"


@dataclass(frozen=True)
class Target:
    """``path`` is ``module:Attribute.path``; ``parameters`` the callable's parameter names in order (None: a
    value, not a callable); ``patch`` the slipway_local module that replaces it; ``gap`` what moto does that
    AWS does not (or fails to do), which the patch corrects."""

    path: str
    parameters: tuple[str, ...] | None
    patch: str
    gap: str


class MotoTargetChanged(RuntimeError):
    """A moto internal that a local-cloud patch replaces is gone or has another signature."""


TARGETS: tuple[Target, ...] = (
    Target(
        "moto.cloudformation.responses:get_stack_from_s3_url",
        ("template_url", "account_id", "partition"),
        "cfn_deploy",
        "a path-style TemplateURL of the local endpoint (SAM CLI's upload) is not read, only amazonaws.com ones",
    ),
    Target(
        "moto.cloudformation.models:CloudFormationBackend.create_stack",
        (
            "self",
            "name",
            "template",
            "parameters",
            "notification_arns",
            "tags",
            "role_arn",
            "enable_termination_protection",
            "timeout_in_mins",
            "stack_policy_body",
        ),
        "cfn_deploy",
        "a template declaring the Serverless transform is created untransformed (SAM CLI sends it so)",
    ),
    Target(
        "moto.cloudformation.models:CloudFormationBackend.create_change_set",
        (
            "self",
            "stack_name",
            "change_set_name",
            "template",
            "parameters",
            "description",
            "change_set_type",
            "notification_arns",
            "tags",
            "role_arn",
        ),
        "cfn_deploy",
        "as create_stack: sam deploy's change set must carry the transformed template",
    ),
    Target(
        "moto.cloudformation.models:CloudFormationBackend.update_stack",
        ("self", "name", "template", "role_arn", "parameters", "tags"),
        "cfn_deploy",
        "as create_stack: an update must carry the transformed template",
    ),
    Target(
        "moto.cloudformation.models:CloudFormationBackend.execute_change_set",
        ("self", "change_set_name", "stack_name"),
        "cfn_deploy",
        "a failing change set is an HTTP 500, not a ROLLBACK_COMPLETE stack; its outputs are not set",
    ),
    Target(
        "moto.cloudformation.responses:CloudFormationResponse.execute_change_set",
        ("self",),
        "cfn_deploy",
        "CloudFormation acts with every right: nothing checks the role holds what the handlers call",
    ),
    Target(
        "moto.sts.responses:TokenResponse.assume_role_with_web_identity",
        ("self",),
        "web_identity",
        "any token gets the role's keys: the role's trust policy (issuer, audience, subject, ref) is not evaluated",
    ),
    Target(
        "moto.awslambda.models:LambdaFunction._invoke_lambda",
        ("self", "event"),
        "patches",
        "without Docker moto never runs function code; here every invoke path runs our handler",
    ),
    Target(
        "moto.awslambda.responses:LambdaResponse.invoke",
        ("self",),
        "perimeter",
        "an invoke of another account's function ARN looks in the caller's account, with no resource policy",
    ),
    Target(
        "moto.awslambda.models:LambdaVersion.create_from_cloudformation_json",
        ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs"),
        "lambda_aliases",
        "an AWS::Lambda::Version from CloudFormation has no ARN of its own and no Version attribute (GetAtt fails)",
    ),
    Target(
        "moto.awslambda.models:LambdaVersion.has_cfn_attr",
        ("attr",),
        "lambda_aliases",
        "(a version answers GetAtt Version, as CloudFormation's does)",
    ),
    Target(
        "moto.events.models:Rule.send_to_targets",
        ("self", "original_event", "transform_input"),
        "patches",
        "rules deliver only to SQS, logs, archives and buses; Lambda and Step Functions targets raise",
    ),
    Target(
        "moto.stepfunctions.models:StateMachine.create_from_cloudformation_json",
        ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs"),
        "patches",
        "CloudFormation state machines land in the non-executing backend, Definition/Substitutions ignored",
    ),
    Target(
        "moto.kms.models:Key.create_from_cloudformation_json",
        ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs"),
        "resources",
        "a key's CloudFormation Tags ({Key, Value}) go to KMS's tagger, which reads only {TagKey, TagValue}",
    ),
    Target(
        "moto.stepfunctions.models:StateMachine.update_from_cloudformation_json",
        ("original_resource", "new_resource_name", "cloudformation_json", "account_id", "region_name"),
        "patches",
        "as create: an update must reach the executing backend",
    ),
    Target(
        "moto.stepfunctions.models:StateMachine.delete_from_cloudformation_json",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
        "patches",
        "as create: a delete must reach the executing backend",
    ),
    Target(
        "moto.stepfunctions.parser.models:StepFunctionsParserBackend.start_execution",
        ("self", "state_machine_arn", "name", "execution_input", "trace_header"),
        "patches",
        "an execution name is checked, then added, with no lock: two racing starts of one name both run",
    ),
    Target(
        "moto.stepfunctions.responses:StepFunctionResponse.send_task_failure",
        ("self",),
        "patches",
        "SendTaskFailure drops the cause, which AWS hands to the Catch ($.error.Cause)",
    ),
    Target(
        f"{SFN_PARSER}.state.exec.state_task.service.state_task_service_sfn:StateTaskServiceSfn._normalise_parameters",
        ("self", "parameters", "boto_service_name", "service_action_name"),
        "patches",
        "a Task's states:startExecution Input (an object) is not sent as its JSON text",
    ),
    Target(
        f"{SFN_PARSER}.state.exec.state_task.service.state_task_service_sfn:StateTaskServiceSfn._normalise_response",
        ("self", "response", "boto_service_name", "service_action_name"),
        "patches",
        "a Task's states:startExecution answer passes on executionArn where Step Functions gives ExecutionArn",
    ),
    Target(
        f"{SFN_PARSER}.common.error_name.error_equals_decl:ErrorEqualsDecl._eval_body",
        ("self", "env"),
        "execution_events",
        "States.ALL catches the terminal States.DataLimitExceeded and States.Runtime",
    ),
    Target(
        "moto.stepfunctions.parser.backend.execution:BaseExecutionWorkerCommunication.terminated",
        ("self",),
        "execution_events",
        "an ended execution publishes no 'Step Functions Execution Status Change' event",
    ),
    Target(
        f"{SFN_PARSER}.state.exec.state_map.iteration.distributed_iteration_component:DistributedIterationComponent._map_run",
        ("self", "env", "eval_input"),
        "distributed_map",
        "a failed child does not fail the Map Run past its tolerated failures",
    ),
    Target(
        f"{SFN_PARSER}.state.exec.state_map.item_reader.eval.resource_eval_s3:ResourceEvalS3._handle_list_objects_v2",
        ("env", "resource_runtime_part", "state_credentials"),
        "distributed_map",
        "the S3 ItemReader reads one page and fails on an empty prefix",
    ),
    Target(
        "moto.stepfunctions.parser.asl.utils.boto_client:boto_client_for",
        ("region", "service", "state_credentials"),
        "routing",
        "the interpreter calls AWS with fixed keys in the default account, not as the machine's role",
    ),
    Target(
        "moto.dynamodb.responses:DynamoHandler.call_action",
        ("self",),
        "dynamodb",
        "an UpdateItem's attributes are applied one by one: a concurrent reader sees half an item",
    ),
    Target(
        "moto.dynamodb.models:DynamoDBBackend.transact_write_items",
        ("self", "transact_items"),
        "dynamodb",
        "a transaction deep-copies the whole table per item (slow, and races with concurrent writers)",
    ),
    Target(
        "moto.dynamodb.models:copy",
        None,
        "dynamodb",
        "(the copy module the transaction's rollback uses, swapped for a copy of what it touches)",
    ),
    Target(
        "moto.firehose.models:FirehoseBackend.put_s3_records",
        ("self", "delivery_stream_name", "version_id", "s3_destination", "records"),
        "firehose",
        "the Prefix is used literally (no !{timestamp:…}, no dynamic partitioning), no delimiter, no GZIP",
    ),
    Target(
        "moto.core.authorization:ActionAuthenticatorMixin._authenticate_and_authorize_action",
        ("self", "iam_request_cls", "resource"),
        "iam",
        "non-S3 services are checked against '*', conditions read as Deny, boundaries and trust skipped",
    ),
    Target(
        "moto.core.authorization:ActionAuthenticatorMixin.request_count",
        None,
        "iam",
        "(the counter INITIAL_NO_AUTH_ACTION_COUNT is compared with, reset when enforcement turns on)",
    ),
    Target(
        "moto.settings:INITIAL_NO_AUTH_ACTION_COUNT",
        None,
        "iam",
        "(the switch of moto's IAM enforcement)",
    ),
    Target(
        "moto.s3.responses:S3Response._authenticate_and_authorize_s3_action",
        ("self", "bucket_name", "key_name"),
        "perimeter",
        "bucket policies are not evaluated between accounts (no account boundary; Allow ignored)",
    ),
    Target(
        "moto.s3.models:FakeBucket.get_permission",
        ("self", "action", "resource"),
        "perimeter",
        "(moto's own bucket-policy reading, replaced by the perimeter's evaluation)",
    ),
    Target(
        "moto.core.botocore_stubber:BotocoreStubber.__call__",
        ("self", "event_name", "request", "kwargs"),
        "faults",
        "(no gap: the in-process stub is where injected faults answer before moto does)",
    ),
)


def resolve(path: str) -> Any:
    """The object at ``module:Attribute.path``; MotoTargetChanged when the module or an attribute is gone."""
    module_name, _, attributes = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise MotoTargetChanged(f"moto module {module_name} is gone") from e
    for name in attributes.split("."):
        if not hasattr(found, name):
            raise MotoTargetChanged(f"{path}: {name!r} is gone")
        found = getattr(found, name)
    return found


def check(target: Target) -> None:
    """Raise MotoTargetChanged naming the patch when ``target`` is gone or its signature changed. Run it before
    any patch is installed (a fresh process): after, the attribute is slipway_local's replacement."""
    try:
        found = resolve(target.path)
    except MotoTargetChanged as e:
        raise MotoTargetChanged(f"slipway_local.{target.patch} patches {target.path}, which moto changed: {e}") from e
    if target.parameters is None:
        return
    parameters = tuple(inspect.signature(found).parameters)
    if parameters != target.parameters:
        raise MotoTargetChanged(
            f"slipway_local.{target.patch} patches {target.path}, whose parameters moto changed: "
            f"{parameters} (the patch expects {target.parameters})"
        )
