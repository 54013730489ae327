"""The DynamoDB metadata table (the MetadataTable port; single-table design, PK/SK + GSI1):
conditional writes make every step idempotent; ClientErrors become ConflictError / TransientError."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from slipway.adapters.clients import aws_errors
from slipway.errors import ConflictError
from slipway.ports import ConditionalDelete, ConditionalUpdate, Counter

_de = TypeDeserializer()  # Powertools' copy of boto3's: reading needs no boto3 import (cold start)
_CONFLICT = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
_KEY_FREE = "attribute_not_exists(PK)"


# DynamoDB's number type: magnitudes below this underflow (the put fails; a strong shift's p-values reach 1e-300)
DYNAMODB_SMALLEST = Decimal("1e-130")


def _number(text: str) -> Decimal:
    """A float as DynamoDB can store it: a magnitude below its smallest number is 0."""
    value = Decimal(text)
    return Decimal(0) if value and abs(value) < DYNAMODB_SMALLEST else value


def _no_number(_: str) -> None:
    """NaN and the infinities, which DynamoDB never stores: None (a NULL)."""
    return None


def _storable(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item's values as DynamoDB takes them: JSON-able, numbers as Decimals (none it cannot store); a top-level
    attribute that is None (or became None: NaN) is left out, as a None attribute always is."""
    plain = json.loads(json.dumps(_drop_none(item), default=str), parse_float=_number, parse_constant=_no_number)
    return _drop_none(plain)


def as_stored(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB gives it back: JSON-able values, top-level None attributes dropped, sets
    sorted to lists, numbers int when integral (DynamoDB does not tell 1.0 from 1), NaN and infinities None (left
    out at the top level), magnitudes below 1e-130 zero."""
    return dict(_plain(_storable(item)))


def _drop_none(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


def _to_dynamo(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer().serialize(v) for k, v in _storable(value).items()}


@functools.cache
def _serializer() -> Any:
    """boto3's TypeSerializer, imported on the first write: a function that only reads (infer) never
    imports boto3."""
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def _from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    return dict(_plain({k: _de.deserialize(v) for k, v in item.items()}))


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


def _expectations(expect: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any], str]:
    """A condition that each attribute holds the expected value (None: is absent)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    conditions = []
    for n, (attribute, value) in enumerate(expect.items()):
        names[f"#e{n}"] = attribute
        if value is None:
            conditions.append(f"attribute_not_exists(#e{n})")
        else:
            conditions.append(f"#e{n} = :e{n}")
            values.update(_to_dynamo({f":e{n}": value}))
    return names, values, " AND ".join(conditions)


def _set_or_remove(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An update's attributes to set, and those to remove: None, and NaN or an infinity (which DynamoDB never
    stores, and which a put leaves out as it leaves out None)."""
    gone = [k for k, v in values.items() if v is None or (isinstance(v, float) and not math.isfinite(v))]
    return {k: v for k, v in values.items() if k not in gone}, gone


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


class DynamoMetadataTable:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._db = dynamodb_client
        self.name = table_name

    def put_new(self, item: Mapping[str, Any]) -> bool:
        try:
            with aws_errors(f"put new item into {self.name}", conflict=_CONFLICT):
                self._db.put_item(TableName=self.name, Item=_to_dynamo(item), ConditionExpression=_KEY_FREE)
        except ConflictError:
            return False
        return True

    def put(self, item: Mapping[str, Any]) -> None:
        with aws_errors(f"put item into {self.name}"):
            self._db.put_item(TableName=self.name, Item=_to_dynamo(item))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        with aws_errors(f"get item from {self.name}"):
            response = self._db.get_item(TableName=self.name, Key=_key(pk, sk), ConsistentRead=True)
        found = response.get("Item")
        return _from_dynamo(found) if found else None

    def query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_after: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        return list(
            self.iter_query(pk, sk_prefix, index=index, newest_first=newest_first, limit=limit, start_after=start_after)
        )

    def iter_query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_after: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        pk_name, sk_name = (f"{index}PK", f"{index}SK") if index else ("PK", "SK")
        condition = f"{pk_name} = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix:
            condition += f" AND begins_with({sk_name}, :sk)"
            values[":sk"] = {"S": sk_prefix}
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index:
            kwargs["IndexName"] = index
        if start_after:
            kwargs["ExclusiveStartKey"] = {k: {"S": str(v)} for k, v in start_after.items()}
        if limit is not None:
            kwargs["Limit"] = limit  # one page of DynamoDB's answers holds the page asked for
        returned = 0
        while True:
            with aws_errors(f"query {self.name}"):
                page = self._db.query(**kwargs)
            for found in page.get("Items", []):
                yield _from_dynamo(found)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def update(
        self, pk: str, sk: str, values: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        keep, drop = _set_or_remove(values)
        names = {f"#a{i}": k for i, k in enumerate([*keep, *drop])}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(keep))) if keep else ""
        if drop:
            expression += " REMOVE " + ", ".join(f"#a{len(keep) + i}" for i in range(len(drop)))
        expr_values = _to_dynamo({f":v{i}": v for i, v in enumerate(keep.values())})
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": _key(pk, sk),
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if expect:
            expect_names, expect_values, condition = _expectations(expect)
            names.update(expect_names)
            expr_values.update(expect_values)
            kwargs["ConditionExpression"] = condition
        if expr_values:
            kwargs["ExpressionAttributeValues"] = expr_values
        with aws_errors(f"update item in {self.name}", conflict=_CONFLICT):
            response = self._db.update_item(**kwargs)
        return _from_dynamo(response["Attributes"])

    def delete(self, pk: str, sk: str, *, expect: Mapping[str, Any] | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": _key(pk, sk)}
        if expect:
            names, values, condition = _expectations(expect)
            kwargs.update(ConditionExpression=condition, ExpressionAttributeNames=names)
            if values:
                kwargs["ExpressionAttributeValues"] = values
        with aws_errors(f"delete item from {self.name}", conflict=_CONFLICT):
            self._db.delete_item(**kwargs)

    def transact(
        self,
        puts: Sequence[Mapping[str, Any]],
        counter: Counter | None = None,
        updates: Sequence[ConditionalUpdate] = (),
        deletes: Sequence[ConditionalDelete] = (),
    ) -> bool:
        operations: list[dict[str, Any]] = [
            {"Put": {"TableName": self.name, "Item": _to_dynamo(i), "ConditionExpression": _KEY_FREE}} for i in puts
        ]
        if counter is not None:
            update: dict[str, Any] = {
                "TableName": self.name,
                "Key": _key(counter.pk, counter.sk),
                "UpdateExpression": "SET #v = :new",
                "ExpressionAttributeNames": {"#v": "value"},
                "ExpressionAttributeValues": {":new": {"N": str(counter.new)}},
                "ConditionExpression": _KEY_FREE if counter.expected == 0 else "#v = :expected",
            }
            if counter.expected != 0:
                update["ExpressionAttributeValues"][":expected"] = {"N": str(counter.expected)}
            operations.append({"Update": update})
        operations += [{"Update": self._conditional_update(u)} for u in updates]
        operations += [{"Delete": self._conditional_delete(d)} for d in deletes]
        try:
            with aws_errors(f"transact write on {self.name}", conflict=_CONFLICT):
                self._db.transact_write_items(TransactItems=operations)
        except ConflictError:
            return False
        return True

    def _conditional_delete(self, delete: ConditionalDelete) -> dict[str, Any]:
        names, values, condition = _expectations(delete.expect)
        operation: dict[str, Any] = {"TableName": self.name, "Key": _key(delete.pk, delete.sk)}
        if condition:
            operation.update(ConditionExpression=condition, ExpressionAttributeNames=names)
            if values:
                operation["ExpressionAttributeValues"] = values
        return operation

    def _conditional_update(self, update: ConditionalUpdate) -> dict[str, Any]:
        keep, drop = _set_or_remove(update.values)
        names = {f"#a{i}": k for i, k in enumerate([*keep, *drop])}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(keep)))
        if drop:
            expression += " REMOVE " + ", ".join(f"#a{len(keep) + i}" for i in range(len(drop)))
        expression_values = _to_dynamo({f":v{i}": v for i, v in enumerate(keep.values())})
        operation: dict[str, Any] = {"TableName": self.name, "Key": _key(update.pk, update.sk)}
        if update.expect:
            expect_names, expect_values, condition = _expectations(update.expect)
            names.update(expect_names)
            expression_values.update(expect_values)
            operation["ConditionExpression"] = condition
        operation.update(UpdateExpression=expression, ExpressionAttributeNames=names)
        if expression_values:
            operation["ExpressionAttributeValues"] = expression_values
        return operation
