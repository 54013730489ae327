"""What moto's CloudFormation lacks for `sam deploy` (SAM CLI's own code path, pointed at the local endpoint), made
real here so that the environment stack can be deployed the way a user deploys it:

- **TemplateURL on the local endpoint**: SAM uploads a template over 51,200 bytes and passes its path-style URL
  (``http://127.0.0.1:<port>/<bucket>/<key>``); moto reads the first label of any host that is not
  ``s3…amazonaws.com`` or ``localhost`` as the bucket ("127"), so the template is read path-style here.
- **The SAM transform**: moto never runs ``AWS::Serverless-2016-10-31``. A template that declares it is
  transformed with aws-sam-translator (the library CloudFormation's own transform is built from) when a stack or
  change set is created or a stack updated, with the call's parameters, as packaging.py does for the local cloud's
  own deploys.
- **A change set's stack as CloudFormation leaves it**: moto's ExecuteChangeSet keeps the stack's outputs and parsed
  template from before (a stack created through a change set had no outputs at all) and lets a failing resource
  escape as an HTTP 500, which clients retry, executing the change set again. Here the outputs and template follow
  the change set, and a failure leaves the stack ``ROLLBACK_COMPLETE`` (a create) or ``UPDATE_ROLLBACK_COMPLETE``
  with the reason in its events, as CloudFormation reports it (no resource is rolled back: moto cannot).
- **CloudFormation acts with the caller's rights**: before a change set executes, every resource's handler
  permissions are evaluated against the principal that executes it, or the service role it passed
  (slipway_local.cfn_permissions); a missing one fails the stack as above, naming the resource and the action.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from slipway_local import cfn_permissions

SERVERLESS = "AWS::Serverless-2016-10-31"
_installed: list[bool] = []
_lock = threading.Lock()


def install() -> None:
    """Apply the patches (idempotent)."""
    with _lock:
        if _installed:
            return
        _patch_template_url()
        _patch_serverless_transform()
        _patch_execute_change_set()
        _installed.append(True)


# ---------------------------------------------------------------- TemplateURL


def _path_style(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.replace(".", "").isdigit()


def read_template_url(template_url: str, account_id: str, partition: str) -> str:
    """The template a TemplateURL names: a path-style URL of the local endpoint read from its bucket (moto reads only
    virtual-hosted and amazonaws.com URLs), any other as moto reads it."""
    if _path_style(template_url):
        from moto.s3.models import s3_backends

        bucket, key = urlparse(template_url).path.lstrip("/").split("/", 1)
        return s3_backends[account_id][partition].get_object(bucket, key).value.decode("utf-8")  # type: ignore[union-attr]
    from moto.cloudformation import utils

    return str(utils.get_stack_from_s3_url(template_url, account_id, partition))


def _patch_template_url() -> None:
    from moto.cloudformation import responses

    responses.get_stack_from_s3_url = read_template_url  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the SAM transform


def declares_serverless(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    return SERVERLESS in ([transform] if isinstance(transform, str) else list(transform or []))


def transformed(template: str, parameters: dict[str, Any], region: str) -> str:
    """The template with the Serverless transform applied (as JSON), or unchanged when it declares none."""
    from samtranslator.yaml_helper import yaml_parse

    parsed = yaml_parse(template) if template else {}
    if not isinstance(parsed, dict) or not declares_serverless(parsed):
        return template
    from moto.cloudformation.exceptions import ValidationError
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    from slipway_local.packaging import _NoManagedPolicies

    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # the translator's pseudo parameters
    try:
        return json.dumps(transform(parsed, dict(parameters), _NoManagedPolicies()))
    except InvalidDocumentException as error:
        causes = "; ".join(str(cause) for cause in error.causes)
        raise ValidationError(message=f"Transform {SERVERLESS} failed with: {causes}") from error


def _patch_serverless_transform() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    def with_transform(method: Callable[..., Any], position: int, keyword: str) -> Callable[..., Any]:
        def call(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Any:
            if keyword in kwargs:
                kwargs[keyword] = transformed(kwargs[keyword], _parameters(kwargs.get("parameters")), self.region_name)
            elif len(args) > position:
                args = (
                    *args[:position],
                    transformed(args[position], _parameters(kwargs.get("parameters")), self.region_name),
                    *args[position + 1 :],
                )
            return method(self, *args, **kwargs)

        return call

    CloudFormationBackend.create_stack = with_transform(CloudFormationBackend.create_stack, 1, "template")  # type: ignore[method-assign]
    CloudFormationBackend.create_change_set = with_transform(  # type: ignore[method-assign]
        CloudFormationBackend.create_change_set, 2, "template"
    )
    CloudFormationBackend.update_stack = with_transform(CloudFormationBackend.update_stack, 1, "template")  # type: ignore[method-assign]


def _parameters(given: Any) -> dict[str, Any]:
    """create_stack/create_change_set pass a dict; update_stack a list of ParameterKey/ParameterValue."""
    if isinstance(given, dict):
        return given
    return {p["ParameterKey"]: p.get("ParameterValue") for p in given or [] if "ParameterKey" in p}


# ---------------------------------------------------------------- executing a change set


def _patch_execute_change_set() -> None:
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import EmptyResult

    original_backend = CloudFormationBackend.execute_change_set

    def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]  # type: ignore[union-attr]
        try:
            original_backend(self, change_set_name, stack_name)
        except Exception as error:  # noqa: BLE001 - moto raises anything; CloudFormation fails the stack, not the call
            fail_stack(stack, change_set, f"{type(error).__name__}: {error}")
            return
        stack.template_dict = change_set.template_dict  # type: ignore[union-attr]
        stack.output_map = stack._create_output_map()

    def respond(self: CloudFormationResponse) -> Any:
        backend = self.cloudformation_backend
        change_set = backend.describe_change_set(self._get_param("ChangeSetName"))
        stack = backend.stacks[change_set.stack_id]  # type: ignore[union-attr]
        refused = cfn_permissions.check_change_set(self, change_set)
        if refused is not None:
            fail_stack(stack, change_set, refused.reason(), refused.events())
            return EmptyResult()
        backend.execute_change_set(change_set_name=self._get_param("ChangeSetName"), stack_name=stack.name)
        return EmptyResult()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    CloudFormationResponse.execute_change_set = respond  # type: ignore[method-assign]


def fail_stack(stack: Any, change_set: Any, reason: str, resource_events: Sequence[tuple[str, str, str]] = ()) -> None:
    """Leave the stack as CloudFormation does after a failed create or update: each failed resource's event
    (logical id, type, reason), then the stack's rollback events and status."""
    from moto.cloudformation.models import Event

    creating = change_set.change_set_type == "CREATE"
    stack._add_stack_event("CREATE_IN_PROGRESS" if creating else "UPDATE_IN_PROGRESS", "User Initiated")
    failed = "CREATE_FAILED" if creating else "UPDATE_FAILED"
    for logical_id, resource_type, why in resource_events:
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id="",
                resource_type=resource_type,
                resource_status=failed,
                resource_status_reason=why,
                resource_properties=None,
            )
        )
    rollback = "ROLLBACK" if creating else "UPDATE_ROLLBACK"
    stack._add_stack_event(f"{rollback}_IN_PROGRESS", reason)
    stack._add_stack_event(f"{rollback}_COMPLETE")
    stack.status = f"{rollback}_COMPLETE"
    change_set.execution_status = "EXECUTE_FAILED"
    change_set.status_reason = reason
