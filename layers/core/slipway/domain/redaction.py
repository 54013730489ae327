"""PII stays out of quarantine reports and error messages: reports travel further than the quarantined
object (auditors read them), so every text validation writes about an upload is scrubbed of the values
of the contract's PII columns (``pii: hash`` or ``drop``) — the row text a CSV parser quotes included."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from slipway.spec import DataContract

__all__ = ["MASK", "Redactor", "pii_column_names", "withhold_row_text"]

MASK = "<masked>"
MIN_MASKED_LENGTH = 3  # shorter values ("1", "no") are everywhere in messages and say nothing about anyone
# Characters that end a token in our messages (quotes, brackets, separators); PII values rarely contain them.
_TOKEN = re.compile(r"[^\s'\"`,;:()\[\]{}<>|=]+")
# pyarrow quotes the offending row after the counts: "CSV parse error: Expected 3 columns, got 4: a,b,c,d"
_PARSE_ERROR_ROW = re.compile(r"^(.*?CSV parse error: [^:]*?got \d+):.*$", re.DOTALL)


def pii_column_names(contract: DataContract) -> list[str]:
    return [c.name for c in contract.columns if c.pii != "keep"]


def withhold_row_text(message: str) -> str:
    """A CSV parser's message without the row text it quotes (the row may hold anything)."""
    match = _PARSE_ERROR_ROW.match(message)
    return f"{match.group(1)} (the row's text is withheld: the contract has PII columns)" if match else message


class Redactor:
    """Replaces the values of PII columns found in an uploaded table wherever they appear in a text."""

    def __init__(self, values: frozenset[str] = frozenset()) -> None:
        self._tokens = frozenset(v for v in values if _TOKEN.fullmatch(v))
        self._phrases = sorted((v for v in values if v not in self._tokens), key=len, reverse=True)

    @classmethod
    def of(cls, table: pa.Table, contract: DataContract) -> Redactor:
        """The distinct text of every PII column of ``table`` (as uploaded, before hashing)."""
        values: set[str] = set()
        for name in pii_column_names(contract):
            if name not in table.schema.names:
                continue
            column = table.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            try:
                text = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. binary that is not UTF-8
                continue
            values.update(v for v in pc.unique(text).drop_null().to_pylist() if len(v) >= MIN_MASKED_LENGTH)
        return cls(frozenset(values))

    def __bool__(self) -> bool:
        return bool(self._tokens or self._phrases)

    def text(self, value: str) -> str:
        if not self:
            return value
        for phrase in self._phrases:
            value = value.replace(phrase, MASK)
        return _TOKEN.sub(lambda m: MASK if m.group(0) in self._tokens else m.group(0), value)

    def json(self, value: Any) -> Any:
        """``value`` (a JSON-able report) with every string scrubbed, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value
