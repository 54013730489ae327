"""The DynamoDB metadata table (single-table design, PK/SK + GSI1): conditional writes make
every step idempotent; ClientErrors become ConflictError / TransientError."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from slipway.adapters.clients import error_code, raise_transient
from slipway.errors import ConflictError

_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_dynamo(value: Any) -> dict[str, Any]:
    plain = json.loads(json.dumps(value, default=str), parse_float=Decimal)
    return {k: _ser.serialize(v) for k, v in plain.items() if v is not None}


def _from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    return _plain({k: _de.deserialize(v) for k, v in item.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


class MetadataTable:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._db = dynamodb_client
        self.name = table_name

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(TableName=self.name, **kwargs)
        except ClientError as e:
            if error_code(e) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise ConflictError(f"{what}: condition failed", {"code": error_code(e)}) from e
            raise_transient(e, what)
            raise
        except BotoCoreError as e:
            raise_transient(e, what)
            raise

    def put_new(self, item: dict[str, Any]) -> bool:
        """Write an item only if its key is free; returns False if it already existed."""
        try:
            self._call(
                "put item",
                self._db.put_item,
                Item=_to_dynamo(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ConflictError:
            return False
        return True

    def put(self, item: dict[str, Any]) -> None:
        self._call("put item", self._db.put_item, Item=_to_dynamo(item))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._call(
            "get item", self._db.get_item, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return _from_dynamo(item) if item else None

    def query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        return list(self.iter_query(pk, sk_prefix, index=index, newest_first=newest_first, limit=limit))

    def iter_query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        pk_name, sk_name = ("GSI1PK", "GSI1SK") if index else ("PK", "SK")
        condition = f"{pk_name} = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix:
            condition += f" AND begins_with({sk_name}, :sk)"
            values[":sk"] = {"S": sk_prefix}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index:
            kwargs["IndexName"] = index
        returned = 0
        while True:
            page = self._call("query", self._db.query, **kwargs)
            for item in page.get("Items", []):
                yield _from_dynamo(item)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def update(
        self,
        pk: str,
        sk: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set attributes (None removes one), optionally under a condition; returns the item after it."""
        keep = {k: v for k, v in values.items() if v is not None}
        drop = [k for k, v in values.items() if v is None]
        names = {f"#a{i}": k for i, k in enumerate([*keep, *drop])}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(keep)))
        if drop:
            expression += " REMOVE " + ", ".join(f"#a{len(keep) + i}" for i in range(len(drop)))
        expr_values = _to_dynamo({f":v{i}": v for i, v in enumerate(keep.values())})
        expr_values.update(_to_dynamo(condition_values or {}))
        kwargs: dict[str, Any] = {
            "Key": {"PK": {"S": pk}, "SK": {"S": sk}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": expr_values,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        response = self._call("update item", self._db.update_item, **kwargs)
        return _from_dynamo(response["Attributes"])

    def transact(self, puts: Sequence[dict[str, Any]], counter: tuple[str, str, int, int] | None = None) -> bool:
        """Atomically write new items (each only if its key is free) and, optionally, move a counter
        from an expected value to a new one. Returns False when any condition failed."""
        operations: list[dict[str, Any]] = [
            {"Put": {"TableName": self.name, "Item": _to_dynamo(i), "ConditionExpression": "attribute_not_exists(PK)"}}
            for i in puts
        ]
        if counter is not None:
            pk, sk, expected, new = counter
            condition = "attribute_not_exists(PK)" if expected == 0 else "#v = :expected"
            update: dict[str, Any] = {
                "TableName": self.name,
                "Key": {"PK": {"S": pk}, "SK": {"S": sk}},
                "UpdateExpression": "SET #v = :new",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#v": "value"},
                "ExpressionAttributeValues": {":new": {"N": str(new)}},
            }
            if expected != 0:
                update["ExpressionAttributeValues"][":expected"] = {"N": str(expected)}
            operations.append({"Update": update})
        try:
            self._db.transact_write_items(TransactItems=operations)
        except ClientError as e:
            if error_code(e) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                return False
            raise_transient(e, "transact write")
            raise
        except BotoCoreError as e:
            raise_transient(e, "transact write")
            raise
        return True
