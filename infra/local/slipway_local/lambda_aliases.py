"""Lambda versions and aliases from CloudFormation, as AWS makes them: what SAM's ``AutoPublishAlias`` turns into
(an ``AWS::Lambda::Version`` published from the function and an ``AWS::Lambda::Alias`` on it, which the HTTP API's
integrations and invoke permissions name). moto's CloudFormation publishes the version but gives it neither a
``Ref`` (the version's ARN) nor ``Fn::GetAtt … Version``, and skips the alias type; here the alias is created in
moto's Lambda backend (``Ref``: its ARN, ``function:<name>:<alias>``), so the local gateway can invoke the function
through it. SnapStart itself is not realised (moto reports ``ApplyOn: None``): the restore hooks are exercised by
the tests, not by the local cloud."""

from __future__ import annotations

from typing import Any

from slipway_local.moto_targets import MotoTargetChanged

__all__ = ["install"]

_installed: list[bool] = []


def install() -> None:
    """Register the alias type and complete the version type (idempotent)."""
    if _installed:
        return
    _complete_versions()
    _define_alias()
    from moto.cloudformation import parsing

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _installed.append(True)


def _function_name(value: str) -> str:
    """A FunctionName property (a name, or an ARN with or without a qualifier) as the function's name."""
    return value.split(":function:", 1)[1].split(":", 1)[0] if ":function:" in value else value


def _complete_versions() -> None:
    from moto.awslambda.models import LambdaVersion, lambda_backends

    original = LambdaVersion.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
               **kwargs: Any) -> Any:  # fmt: skip
        version = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        name = _function_name(str(cloudformation_json["Properties"]["FunctionName"]))
        version.arn = lambda_backends[account_id][region_name].get_function(name, str(version.version)).function_arn
        return version

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "Version":
            return str(self.version)
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    LambdaVersion.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")  # type: ignore[method-assign,assignment]
    # Two additions, not replacements (moto's LambdaVersion has neither, so moto_targets has nothing to check): if a
    # later moto defines them, stop here rather than silently override its own.
    for added in ("get_cfn_attribute", "physical_resource_id"):
        if added in vars(LambdaVersion):
            raise MotoTargetChanged(
                f"moto's LambdaVersion now defines {added}: slipway_local.lambda_aliases adds its own"
            )
    setattr(LambdaVersion, "get_cfn_attribute", get_cfn_attribute)  # noqa: B010 - an addition (see above)
    setattr(LambdaVersion, "physical_resource_id", property(lambda self: self.arn))  # noqa: B010


def _define_alias() -> None:
    """Subclassing CloudFormationModel is what registers a type with moto's parser."""
    from moto.awslambda.models import lambda_backends
    from moto.core.common_models import CloudFormationModel

    class LambdaAliasResource(CloudFormationModel):
        def __init__(self, arn: str, version: str) -> None:
            self.arn = arn
            self.version = version

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> LambdaAliasResource:
            props = cloudformation_json["Properties"]
            backend = lambda_backends[account_id][region_name]
            alias = backend.create_alias(
                props["Name"],
                _function_name(str(props["FunctionName"])),
                str(props["FunctionVersion"]),
                props.get("Description", ""),
                props.get("RoutingConfig"),
            )
            return cls(alias.arn, alias.function_version)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> LambdaAliasResource:
            props = cloudformation_json["Properties"]
            alias = lambda_backends[account_id][region_name].update_alias(
                props["Name"],
                _function_name(str(props["FunctionName"])),
                str(props["FunctionVersion"]),
                props.get("Description"),
                props.get("RoutingConfig"),
            )
            return cls(alias.arn, alias.function_version)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            props = cloudformation_json["Properties"]
            lambda_backends[account_id][region_name].delete_alias(
                props["Name"], _function_name(str(props["FunctionName"]))
            )

        def is_created(self) -> bool:
            return True
