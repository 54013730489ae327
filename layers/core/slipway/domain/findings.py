"""What validation found: failed checks as a report states them, and the findings they are made from, which
add up over the parts of an upload read in parts."""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from slipway.spec import DataContract

__all__ = [
    "CHECK_ORDER",
    "MAX_EXAMPLES",
    "MAX_SHOWN",
    "CheckFailure",
    "Finding",
    "ValidationReport",
    "finding_of",
    "report_of",
]

MAX_EXAMPLES = 5
MAX_SHOWN = 3  # offending values a message quotes
MAX_UNEXPECTED_LISTED = 50  # a 20,000-column file gets 50 findings and a count, not 20,000 findings


@dataclass(frozen=True)
class CheckFailure:
    """One failed check: which column, which check, how many rows, and the first few row numbers."""

    column: str | None
    check: str
    count: int
    examples: list[int]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as stored in the quarantine report."""
        return asdict(self)


@dataclass
class ValidationReport:
    """Every failed check of one table against one contract; ``ok`` when there is none."""

    rows: int
    failures: list[CheckFailure] = field(default_factory=list)
    dropped_null_target: int = 0  # rows removed before the checks (``missing_target: drop``)

    @property
    def ok(self) -> bool:
        """True when the table meets the contract."""
        return not self.failures

    @property
    def checks(self) -> set[tuple[str | None, str]]:
        """The failed (column, check) pairs, handy for assertions and summaries."""
        return {(f.column, f.check) for f in self.failures}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; ``bad_values`` sums the per-check counts."""
        return {
            "rows": self.rows,
            "ok": self.ok,
            "bad_values": sum(f.count for f in self.failures),
            "dropped_rows": {"null_target": self.dropped_null_target},
            "failures": [f.to_dict() for f in self.failures],
        }


# A column's findings in the order its checks run: a report lists them so, however its rows were read.
CHECK_ORDER = ("missing_column", "type", "not_null", "min", "max", "allowed", "regex", "unique")


@dataclass(frozen=True)
class Finding:
    """A failed check over some rows, with what its message is made of, so that the findings of one check over
    consecutive parts of an upload add up to the finding over the whole upload (``then``)."""

    column: str | None
    check: str
    count: int
    examples: list[int]
    noun: str | None = None  # what the message counts ("value", "null", "row"); None: ``text`` is the message
    text: str = ""
    shown: tuple[str, ...] | None = None  # offending values the message quotes; None: it quotes none (PII)

    def then(self, later: Finding) -> Finding:
        """This finding followed by ``later``, the same check's over the rows after these."""
        if self.check == "missing_column":  # about the file, not its rows: said once
            return self
        shown = None if self.shown is None else (self.shown + (later.shown or ()))[:MAX_SHOWN]
        examples = (self.examples + later.examples)[:MAX_EXAMPLES]
        return dataclasses.replace(self, count=self.count + later.count, examples=examples, shown=shown)

    def failure(self) -> CheckFailure:
        """The finding as the report states it."""
        message = f"{_n(self.count, self.noun)} {self.text}" if self.noun else self.text
        if self.shown:
            message += ", e.g. " + ", ".join(self.shown)
        return CheckFailure(self.column, self.check, self.count, self.examples, message)


def finding_of(
    column: str, check: str, rows: np.ndarray, noun: str, text: str, shown: tuple[str, ...] | None = None
) -> Finding:
    """``rows``: the offending row numbers, ascending."""
    return Finding(column, check, int(rows.size), [int(r) for r in rows[:MAX_EXAMPLES]], noun, text, shown)


def _n(count: int | np.integer, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _header_failures(names: list[str], contract: DataContract) -> list[CheckFailure]:
    """Columns the contract does not declare, or declared more than once. A header naming no contract column
    at all is one ``header`` finding that quotes none of it (a file without a header row has data there)."""
    declared = set(contract.names)
    counts = collections.Counter(names)
    if names and not declared & counts.keys():
        message = (
            f"none of the {len(counts)} column names in the first row is a column of the contract (a file "
            f"without a header row?); expected: {', '.join(contract.names)}"
        )
        return [CheckFailure(None, "header", 1, [], message)]
    odd = [name for name in counts if name not in declared or counts[name] > 1]
    failures = [
        CheckFailure(
            name,
            "unexpected_column",
            1,
            [],
            f"column {name!r} appears {counts[name]} times"
            if name in declared
            else f"column {name!r} is not in the contract",
        )
        for name in odd[:MAX_UNEXPECTED_LISTED]
    ]
    if len(odd) > MAX_UNEXPECTED_LISTED:
        rest = len(odd) - MAX_UNEXPECTED_LISTED
        failures.append(
            CheckFailure(None, "unexpected_column", rest, [], f"{rest} more columns not in the contract, not listed")
        )
    return failures


def report_of(
    names: list[str], contract: DataContract, findings: list[Finding], rows: int, uploaded: int
) -> ValidationReport:
    """The report on an upload whose header is ``names``: its header's findings, the rows' ``findings`` (in the
    contract's column order, each column's checks in the order they run), its row count (``rows`` kept of
    ``uploaded``)."""
    position = {name: k for k, name in enumerate(contract.names)}
    ordered = sorted(findings, key=lambda f: (position.get(f.column or "", -1), CHECK_ORDER.index(f.check)))
    failures = _header_failures(names, contract) + [f.failure() for f in ordered]
    too_few = rows < contract.min_rows
    if too_few or (contract.max_rows is not None and rows > contract.max_rows):
        bound = f"min_rows {contract.min_rows}" if too_few else f"max_rows {contract.max_rows}"
        failures.append(CheckFailure(None, "row_count", 1, [], f"{rows} rows breaks {bound}"))
    return ValidationReport(rows=uploaded, failures=failures, dropped_null_target=uploaded - rows)
