"""CloudFormation resource types moto's CloudFormation skips, made real in moto's own backends so
that ``Ref``/``Fn::GetAtt`` resolve and the resources exist in the stack's account:

- ``AWS::ApiGatewayV2::Api`` (what SAM makes of ``AWS::Serverless::HttpApi``): an API in moto's
  apigatewayv2 backend, so ``!Ref HttpApi`` is its id and the ``execute-api`` URL is well formed.
  Routes, integrations and stages are not created there: the local gateway reads the routes from
  the SAM template and serves them itself (slipway_local.gateway).
- ``AWS::KinesisFirehose::DeliveryStream``: a delivery stream in moto's firehose backend (whose
  S3 delivery slipway_local.firehose realises).
- ``AWS::S3::BucketPolicy``: the policy put on its bucket, checked to use only what the local cloud
  evaluates (slipway_local.perimeter evaluates it on every S3 request).
- ``AWS::Events::EventBusPolicy``: its statement on the bus, checked likewise (slipway_local.event_buses
  evaluates it on every delivery from another account).

And one moto reads wrongly: an ``AWS::KMS::Key``'s ``Tags`` (CloudFormation's ``Key``/``Value``), which moto's
KMS backend expects in the KMS API's form (``TagKey``/``TagValue``) and fails on."""

from __future__ import annotations

from typing import Any

_installed: list[bool] = []


def install() -> None:
    """Register the resource types with moto's CloudFormation (idempotent)."""
    if _installed:
        return
    _define_models()
    _kms_key_tags()
    from moto.cloudformation import parsing

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _installed.append(True)


def _kms_key_tags() -> None:
    from moto.kms.models import Key

    create = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(cls: Any, name: str, cloudformation_json: Any, *args: Any, **kw: Any) -> Any:
        properties = cloudformation_json.get("Properties", {})
        if properties.get("Tags"):
            tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in properties["Tags"]]
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "Tags": tags}}
        return create(cls, name, cloudformation_json, *args, **kw)

    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _define_models() -> None:
    """Subclassing CloudFormationModel is what registers a type with moto's parser."""
    import json

    from moto.apigatewayv2.models import apigatewayv2_backends
    from moto.core.common_models import CloudFormationModel
    from moto.events.models import events_backends
    from moto.firehose.models import firehose_backends
    from moto.s3.models import s3_backends

    from slipway_local.event_buses import validate_statement
    from slipway_local.perimeter import validate_policy

    class BucketPolicyResource(CloudFormationModel):
        def __init__(self, bucket: str) -> None:
            self.bucket = bucket

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @property
        def physical_resource_id(self) -> str:
            return self.bucket

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> BucketPolicyResource:
            props = cloudformation_json["Properties"]
            document = dict(props["PolicyDocument"])
            # moto resolves a list item's {"Fn::If": [..., {"Ref": "AWS::NoValue"}]} to None instead of dropping it
            document["Statement"] = [s for s in document.get("Statement", []) if s is not None]
            validate_policy(document)
            s3_backends[account_id]["aws"].put_bucket_policy(props["Bucket"], json.dumps(document).encode())
            return cls(props["Bucket"])

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            s3_backends[account_id]["aws"].delete_bucket_policy(cloudformation_json["Properties"]["Bucket"])

        def is_created(self) -> bool:
            return True

    class EventBusPolicyResource(CloudFormationModel):
        def __init__(self, statement_id: str) -> None:
            self.statement_id = statement_id

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Events::EventBusPolicy"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @property
        def physical_resource_id(self) -> str:
            return self.statement_id

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> EventBusPolicyResource:
            props = cloudformation_json["Properties"]
            statement = {"Sid": props["StatementId"], **props["Statement"]}
            validate_statement(statement)
            bus = events_backends[account_id][region_name].describe_event_bus(props.get("EventBusName") or "default")
            bus.add_policy({"Statement": [statement]})
            return cls(props["StatementId"])

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            props = cloudformation_json["Properties"]
            bus = events_backends[account_id][region_name].describe_event_bus(props.get("EventBusName") or "default")
            bus.remove_statement(props["StatementId"])

        def is_created(self) -> bool:
            return True

    class HttpApiResource(CloudFormationModel):
        def __init__(self, api: Any) -> None:
            self.api = api

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::ApiGatewayV2::Api"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return str(self.api.api_id)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("ApiEndpoint", "ApiId")

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            if attribute_name == "ApiEndpoint":
                return self.api.api_endpoint
            if attribute_name == "ApiId":
                return self.api.api_id
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> HttpApiResource:
            props = cloudformation_json.get("Properties", {})
            api = apigatewayv2_backends[account_id][region_name].create_api(
                api_key_selection_expression=props.get("ApiKeySelectionExpression"),
                cors_configuration=props.get("CorsConfiguration"),
                description=props.get("Description") or (props.get("Body") or {}).get("info", {}).get("description"),
                disable_schema_validation=props.get("DisableSchemaValidation"),
                disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
                name=props.get("Name") or (props.get("Body") or {}).get("info", {}).get("title") or resource_name,
                protocol_type=props.get("ProtocolType", "HTTP"),
                route_selection_expression=props.get("RouteSelectionExpression"),
                tags=props.get("Tags") or {},
                version=props.get("Version"),
            )
            return cls(api)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            backend = apigatewayv2_backends[account_id][region_name]
            if resource_name in backend.apis:
                backend.delete_api(resource_name)

        def is_created(self) -> bool:
            return True

    class DeliveryStreamResource(CloudFormationModel):
        def __init__(self, stream: Any) -> None:
            self.stream = stream

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::KinesisFirehose::DeliveryStream"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "DeliveryStreamName"

        @property
        def physical_resource_id(self) -> str:
            return str(self.stream.delivery_stream_name)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            if attribute_name == "Arn":
                return self.stream.delivery_stream_arn
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> DeliveryStreamResource:
            from slipway_local.firehose import validate_destination

            props = cloudformation_json.get("Properties", {})
            backend = firehose_backends[account_id][region_name]
            extended = props.get("ExtendedS3DestinationConfiguration")
            if extended:
                validate_destination(extended)
            backend.create_delivery_stream(
                region=region_name,
                delivery_stream_name=resource_name,
                delivery_stream_type=props.get("DeliveryStreamType", "DirectPut"),
                kinesis_stream_source_configuration=props.get("KinesisStreamSourceConfiguration"),
                delivery_stream_encryption_configuration_input=props.get("DeliveryStreamEncryptionConfigurationInput"),
                s3_destination_configuration=props.get("S3DestinationConfiguration"),
                extended_s3_destination_configuration=extended,
                redshift_destination_configuration=props.get("RedshiftDestinationConfiguration"),
                elasticsearch_destination_configuration=props.get("ElasticsearchDestinationConfiguration"),
                splunk_destination_configuration=props.get("SplunkDestinationConfiguration"),
                http_endpoint_destination_configuration=props.get("HttpEndpointDestinationConfiguration"),
                snowflake_destination_configuration=props.get("SnowflakeDestinationConfiguration"),
                iceberg_destination_configuration=props.get("IcebergDestinationConfiguration"),
                tags=props.get("Tags") or [],
            )
            return cls(backend.delivery_streams[resource_name])

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            backend = firehose_backends[account_id][region_name]
            if resource_name in backend.delivery_streams:
                backend.delete_delivery_stream(resource_name)

        def is_created(self) -> bool:
            return True
