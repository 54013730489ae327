"""The online feature store on DynamoDB (the OnlineStore port): a table of its own, one item per (view, entity),
read with BatchGetItem and written newest-event-time-wins by conditional transactions.

Its own table rather than the metadata table: the functions that write it (materialisation) and read it (infer)
get rights on it alone — a materialiser that may put items in the metadata table could rewrite the registry or the
audit trail — and its traffic (one read per prediction, a burst of writes per upload) never throttles the registry's.
Items: ``pk`` (view#entity), ``t`` (event time, µs), ``v`` (the values as JSON text: floats round-trip exactly,
and a read needs no type deserialiser), ``ver`` (view version), ``expires_at`` (the table's TTL attribute: DynamoDB
deletes expired items within days, so readers check the time themselves)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from slipway.adapters.clients import aws_errors, error_code
from slipway.ports import OnlineRecord

READ_BATCH = 100  # BatchGetItem's limit
WRITE_BATCH = 100  # TransactWriteItems' limit
_NEWER = "attribute_not_exists(pk) OR t < :t"


def _item(record: OnlineRecord) -> dict[str, Any]:
    return {
        "pk": {"S": record.key},
        "t": {"N": str(record.event_us)},
        "v": {"S": record.values},
        "ver": {"N": str(record.version)},
        "expires_at": {"N": str(record.expires_at)},
    }


def _record(item: dict[str, Any]) -> OnlineRecord:
    return OnlineRecord(
        key=item["pk"]["S"],
        event_us=int(item["t"]["N"]),
        values=item["v"]["S"],
        version=int(item["ver"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
    )


class DynamoOnlineStore:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        self._table = table_name

    def read(self, keys: Sequence[str]) -> dict[str, OnlineRecord]:
        found: dict[str, OnlineRecord] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), READ_BATCH):
            request = {self._table: {"Keys": [{"pk": {"S": k}} for k in unique[start : start + READ_BATCH]]}}
            while request:
                with aws_errors(f"reading the online store {self._table}"):
                    answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    record = _record(item)
                    found[record.key] = record
                request = answer.get("UnprocessedKeys") or {}
        return found

    def write_newer(self, records: Sequence[OnlineRecord]) -> int:
        """Only records newer than what the store holds are sent (read first, in batches), each in a transaction
        whose conditions hold them newer at the moment of writing; a transaction refused because another writer
        got there first is written again one item at a time, each refused item being older and left."""
        stored = self.read([r.key for r in records])
        newer = [r for r in records if r.key not in stored or stored[r.key].event_us < r.event_us]
        written = 0
        for start in range(0, len(newer), WRITE_BATCH):
            chunk = newer[start : start + WRITE_BATCH]
            try:
                self._client.transact_write_items(TransactItems=[self._put(r) for r in chunk])
            except ClientError as e:
                if error_code(e) != "TransactionCanceledException":
                    with aws_errors(f"writing the online store {self._table}"):
                        raise
                written += sum(self._put_one(r) for r in chunk)
            else:
                written += len(chunk)
        return written

    def _put(self, record: OnlineRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": _item(record),
                "ConditionExpression": _NEWER,
                "ExpressionAttributeValues": {":t": {"N": str(record.event_us)}},
            }
        }

    def _put_one(self, record: OnlineRecord) -> bool:
        try:
            self._client.put_item(**self._put(record)["Put"])
        except ClientError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            with aws_errors(f"writing the online store {self._table}"):
                raise
        return True
