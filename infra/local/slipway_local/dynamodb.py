"""DynamoDB in the local cloud behaves as DynamoDB does under concurrency, where moto does not:

- every request is atomic: moto applies an UpdateItem's attributes one by one (a reader saw an item half
  written) and copies a whole table for a transaction's rollback while other threads write to it
  ("dictionary changed size during iteration"). The local cloud runs one DynamoDB request at a time.
- a transaction costs what it touches: moto deep-copies the whole table once per item of every
  TransactWriteItems (at 1,000 items, 0.16 s per 3-item transaction; it grows with the table). The
  rollback copy here shares every untouched item and deep-copies only the items the transaction names.
"""

from __future__ import annotations

import copy
import threading
import types
from collections import defaultdict
from typing import Any

__all__ = ["install"]

_lock = threading.RLock()
_installed: dict[str, bool] = {}


def _touched(table: Any, operations: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """(hash, range) of every item the transaction's operations on ``table`` name."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys = []
    for item in operations:
        _, op = next(iter(item.items()))
        if op.get("TableName") != table.name:
            continue
        key = op.get("Key") or op.get("Item") or {}
        hash_value = key.get(table.hash_key_attr)
        range_value = key.get(table.range_key_attr) if table.range_key_attr else None
        if hash_value is not None:
            keys.append((DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None))
    return keys


def _snapshot(table: Any, operations: list[dict[str, Any]]) -> Any:
    """A rollback copy of ``table``: its item maps copied shallowly, the touched items deeply (an update
    changes its item in place; a put or delete replaces a map entry, which the shallow copy keeps)."""
    clone = copy.copy(table)
    if table.range_key_attr:
        clone.items = defaultdict(dict, {h: dict(ranges) for h, ranges in table.items.items()})
    else:
        clone.items = defaultdict(dict, table.items)
    for hash_value, range_value in _touched(table, operations):
        if table.range_key_attr:
            found = table.items.get(hash_value, {}).get(range_value)
            if found is not None:
                clone.items[hash_value][range_value] = copy.deepcopy(found)
        elif hash_value in table.items:
            clone.items[hash_value] = copy.deepcopy(table.items[hash_value])
    return clone


def install() -> None:
    if _installed.get("done"):
        return
    import moto.dynamodb.models as models
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action

    def atomic_call_action(self: Any) -> Any:
        with _lock:
            return call_action(self)

    DynamoHandler.call_action = atomic_call_action  # type: ignore[method-assign]

    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _lock:
            snapshots = {}
            for item in transact_items:
                _, op = next(iter(item.items()))
                name = op.get("TableName")
                if name in self.tables and id(self.tables[name]) not in snapshots:
                    snapshots[id(self.tables[name])] = _snapshot(self.tables[name], transact_items)

            def deepcopy(value: Any, memo: Any = None) -> Any:
                return snapshots[id(value)] if id(value) in snapshots else copy.deepcopy(value, memo)

            namespace = vars(models)  # the copy module moto's transaction uses, swapped for this call
            real_copy = namespace["copy"]
            namespace["copy"] = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)
            try:
                transact(self, transact_items)
            finally:
                namespace["copy"] = real_copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _installed["done"] = True
