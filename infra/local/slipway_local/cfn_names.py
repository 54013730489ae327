"""The names and ARNs a plain CloudFormation template's resources will have, known before CloudFormation creates
them: what ``Ref`` and ``Fn::GetAtt …Arn`` of each resource give, from its name property, the stack's parameters and
the pseudo parameters. A resource without a name property gets one as CloudFormation makes it,
``<stack>-<logical id>-<suffix>``, with GENERATED as the suffix; an identifier only the service makes (a KMS key's id,
an HTTP API's id) is GENERATED too. What cannot be known (an attribute other than the ARN, an import) is None, and the
permission check then evaluates against ``*``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GENERATED", "Names"]

GENERATED = "GENERATED"
# type -> (name property, what Ref gives: name | arn | url | id, the ARN with {name})
_IDENTITY: dict[str, tuple[str | None, str, str]] = {
    "AWS::Lambda::Function": ("FunctionName", "name", "arn:{p}:lambda:{r}:{a}:function:{name}"),
    "AWS::Lambda::LayerVersion": ("LayerName", "arn", "arn:{p}:lambda:{r}:{a}:layer:{name}:1"),
    "AWS::Lambda::Version": (None, "arn", "arn:{p}:lambda:{r}:{a}:function:{name}:1"),
    "AWS::Lambda::Alias": ("Name", "arn", "arn:{p}:lambda:{r}:{a}:function:{function}:{name}"),
    "AWS::IAM::Role": ("RoleName", "name", "arn:{p}:iam::{a}:role{path}{name}"),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "arn", "arn:{p}:iam::{a}:policy{path}{name}"),
    "AWS::IAM::OIDCProvider": (None, "arn", "arn:{p}:iam::{a}:oidc-provider/{name}"),
    "AWS::S3::Bucket": ("BucketName", "name", "arn:{p}:s3:::{name}"),
    "AWS::DynamoDB::Table": ("TableName", "name", "arn:{p}:dynamodb:{r}:{a}:table/{name}"),
    "AWS::SQS::Queue": ("QueueName", "url", "arn:{p}:sqs:{r}:{a}:{name}"),
    "AWS::SNS::Topic": ("TopicName", "arn", "arn:{p}:sns:{r}:{a}:{name}"),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", "arn", "arn:{p}:states:{r}:{a}:stateMachine:{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "name", "arn:{p}:logs:{r}:{a}:log-group:{name}"),
    "AWS::Events::Rule": ("Name", "name", "arn:{p}:events:{r}:{a}:rule/{name}"),
    "AWS::KinesisFirehose::DeliveryStream": (
        "DeliveryStreamName",
        "name",
        "arn:{p}:firehose:{r}:{a}:deliverystream/{name}",
    ),
    "AWS::CloudWatch::Alarm": ("AlarmName", "name", "arn:{p}:cloudwatch:{r}:{a}:alarm:{name}"),
    "AWS::KMS::Key": (None, "id", "arn:{p}:kms:{r}:{a}:key/{name}"),
    "AWS::ECR::Repository": ("RepositoryName", "name", "arn:{p}:ecr:{r}:{a}:repository/{name}"),
    "AWS::ApiGatewayV2::Api": (None, "id", "arn:{p}:apigateway:{r}::/apis/{name}"),
    "AWS::ApiGatewayV2::Stage": ("StageName", "name", "arn:{p}:apigateway:{r}::/apis/{api}/stages/{name}"),
}
# Services whose ids CloudFormation does not name after the stack
_SERVICE_IDS = frozenset({"AWS::KMS::Key", "AWS::ApiGatewayV2::Api", "AWS::IAM::OIDCProvider"})
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class Names:
    """A plain (already transformed) template in one stack: parameters resolved, conditions evaluated."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str]
    account: str
    region: str
    stack_name: str
    partition: str = "aws"
    _conditions: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters") or {}
        given = dict(self.parameters)
        for name, spec in declared.items():
            if name not in given and isinstance(spec, dict) and "Default" in spec:
                given[name] = str(spec["Default"])
        self.parameters = given

    # ------------------------------------------------------------------ resources
    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template.get("Resources") or {})

    def active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def resource_type(self, logical_id: str) -> str | None:
        resource = self.resources.get(logical_id)
        return str(resource["Type"]) if resource else None

    def name(self, logical_id: str) -> str | None:
        """The resource's physical name (or the service's id)."""
        resource = self.resources.get(logical_id)
        if resource is None or resource["Type"] not in _IDENTITY:
            return None
        prop = _IDENTITY[resource["Type"]][0]
        if resource["Type"] in _SERVICE_IDS:
            return GENERATED
        given = (resource.get("Properties") or {}).get(prop) if prop else None
        if given is not None:
            return self.value(given)
        return f"{self.stack_name}-{logical_id}-{GENERATED}"

    def arn(self, logical_id: str) -> str | None:
        resource = self.resources.get(logical_id)
        name = self.name(logical_id)
        if resource is None or name is None:
            return None
        props = resource.get("Properties") or {}
        api = self.value(props.get("ApiId")) if "ApiId" in props else GENERATED
        path = self.value(props.get("Path")) if "Path" in props else "/"
        function = (self.value(props.get("FunctionName")) or GENERATED).rsplit(":function:", 1)[-1]  # an alias's
        return _IDENTITY[resource["Type"]][2].format(
            p=self.partition,
            r=self.region,
            a=self.account,
            name=name,
            path=path or "/",
            api=api or GENERATED,
            function=function,
        )

    def ref(self, logical_id: str) -> str | None:
        if logical_id in self.parameters:
            return self.parameters[logical_id]
        pseudo = self._pseudo(logical_id)
        if pseudo is not None:
            return pseudo
        resource = self.resources.get(logical_id)
        if resource is None or resource["Type"] not in _IDENTITY:
            return None
        kind = _IDENTITY[resource["Type"]][1]
        if kind == "arn":
            return self.arn(logical_id)
        name = self.name(logical_id)
        if kind == "url" and name is not None:
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"
        return name

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def get_att(self, logical_id: str, attribute: str) -> str | None:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("RoleId", "QueueName") or attribute.endswith("Name"):
            return self.name(logical_id)
        return None

    # ------------------------------------------------------------------ intrinsic functions
    def value(self, node: Any) -> str | None:
        """A property's value as a string, or None when it cannot be known before the stack exists."""
        if isinstance(node, (str, int, float, bool)):
            return str(node)
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((function, argument),) = node.items()
        if function == "Ref":
            return self.ref(str(argument))
        if function == "Fn::GetAtt":
            logical, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self.get_att(logical, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            parts = [self.value(p) for p in argument[1]] if isinstance(argument[1], list) else [None]
            return None if any(p is None for p in parts) else str(argument[0]).join(p or "" for p in parts)
        if function == "Fn::If":
            return self.value(argument[1] if self.condition(argument[0]) else argument[2])
        if function == "Fn::FindInMap":
            keys = [self.value(k) for k in argument]
            try:
                found = self.template["Mappings"][keys[0]][keys[1]][keys[2]]
            except (KeyError, TypeError):
                return None
            return str(found)
        if function == "Fn::Select":
            options = argument[1] if isinstance(argument[1], list) else []
            index = self.value(argument[0])
            return self.value(options[int(index)]) if index is not None and int(index) < len(options) else None
        return None

    def values(self, node: Any) -> list[str]:
        """A list property's values (unknown ones left out)."""
        items = node if isinstance(node, list) else [node] if node is not None else []
        return [v for v in (self.value(item) for item in items) if v is not None]

    def _sub(self, argument: Any) -> str | None:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        unknown = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unknown
            key = match.group(1)
            if key in variables:
                found = self.value(variables[key])
            elif "." in key:
                logical, attribute = key.split(".", 1)
                found = self.get_att(logical, attribute)
            else:
                found = self.ref(key)
            unknown = unknown or found is None
            return found or ""

        resolved = _SUB.sub(replace, str(text)).replace("${!", "${")
        return None if unknown else resolved

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self._truth((self.template.get("Conditions") or {})[name])
        return self._conditions[name]

    def _truth(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Fn::Equals":
            return self.value(argument[0]) == self.value(argument[1])
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Fn::And":
            return all(self._truth(a) for a in argument)
        if function == "Fn::Or":
            return any(self._truth(a) for a in argument)
        if function == "Condition":
            return self.condition(argument)
        raise ValueError(f"condition function {function} is not realised by the local cloud")
