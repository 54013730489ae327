"""IAM policy statements evaluated as AWS evaluates them, for the local cloud's identity checks
(slipway_local.iam) and resource policies (slipway_local.perimeter).

Why not moto's evaluator (``moto.iam.access_control.IAMPolicy``): it reads a statement's Condition only
against values it is handed, so an identity policy's Allow with any Condition becomes a Deny; it matches
the resource ``*`` for every service but S3, SQS, IAM and STS (a grant on a table or state machine ARN never
applies); it ignores permission boundaries. No maintained PyPI package evaluates a request against
policies offline (policyuniverse parses and expands, parliament and cloudsplaining lint), so this module does,
for the operators below; any other operator is refused when a policy is checked (``check``), never ignored.

Supported: Effect, Principal (``*``, ``{"AWS": …}``, ``{"Service": …}``, ``{"Federated": …}``), NotPrincipal is refused,
Action/NotAction, Resource/NotResource with ``*`` and ``?`` wildcards, the condition operators in
OPERATORS with the ``IfExists`` suffix and the ``ForAllValues:``/``ForAnyValue:`` set prefixes, and
policy variables in condition values (``${aws:username}``: the request's value of that key; a value naming a key the
request lacks matches nothing), refused elsewhere. A key missing from the request: a positive operator is false, a
negated one (``StringNotEquals``…) true, ``…IfExists`` true, ``ForAllValues`` true, ``Null`` compares presence."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, str | list[str]]


def _like(actual: str, wanted: str) -> bool:
    return fnmatch.fnmatchcase(actual, wanted.replace("[", "[[]"))


def _bool(actual: str, wanted: str) -> bool:
    return actual.lower() == wanted.lower()


# operator -> (value test, negated)
OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda a, w: a == w, False),
    "StringNotEquals": (lambda a, w: a == w, True),
    "StringEqualsIgnoreCase": (lambda a, w: a.lower() == w.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda a, w: a.lower() == w.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (lambda a, w: a == w, False),
    "ArnNotEquals": (lambda a, w: a == w, True),
    "ArnLike": (_like, False),
    "ArnNotLike": (_like, True),
    "Bool": (_bool, False),
}


class PolicyError(ValueError):
    """A policy uses what the local cloud cannot evaluate."""


@dataclass(frozen=True)
class Principal:
    """Who asks: ``arn`` is aws:PrincipalArn (a role, not its session), ``account`` its account;
    ``service`` a service principal (``lambda.amazonaws.com``) instead; ``federated`` an identity provider
    (an OIDC provider's ARN) vouching for a web identity."""

    account: str
    arn: str
    service: str | None = None
    aliases: frozenset[str] = field(default_factory=frozenset)  # other ARNs naming it (the session's)
    federated: str | None = None


def listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def statements(document: Mapping[str, Any] | str | None) -> list[dict[str, Any]]:
    if not document:
        return []
    if isinstance(document, str):
        document = json.loads(document)
    found = document.get("Statement", [])  # type: ignore[union-attr]
    # moto's CloudFormation leaves an ``!If [c, …, !Ref AWS::NoValue]`` statement as None
    return [s for s in (found if isinstance(found, list) else [found]) if s]


def _split(operator: str) -> tuple[str | None, str, bool]:
    qualifier, _, rest = operator.rpartition(":")
    if_exists = rest.endswith("IfExists")
    return (qualifier or None), rest.removesuffix("IfExists"), if_exists


def check(document: Mapping[str, Any] | str | None) -> None:
    """Refuse a policy this module would evaluate wrongly."""
    for statement in statements(document):
        if "NotPrincipal" in statement:
            raise PolicyError("NotPrincipal is not realised by the local cloud")
        for operator in statement.get("Condition") or {}:
            qualifier, base, _ = _split(operator)
            if qualifier not in (None, "ForAllValues", "ForAnyValue") or (base not in OPERATORS and base != "Null"):
                raise PolicyError(f"condition operator {operator} is not realised by the local cloud")
        for element in ("Action", "NotAction", "Resource", "NotResource"):
            if any("${" in value for value in listed(statement.get(element))):
                raise PolicyError("policy variables are not realised by the local cloud")


_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_UNMATCHABLE = "\x00"  # what a variable the request lacks stands for: equal to, and like, no value


def _substituted(value: str, context: Context) -> str:
    """A condition value with its policy variables (``${aws:username}``) replaced by the request's values."""

    def variable(match: re.Match[str]) -> str:
        found = context.get(match.group(1))
        return found if isinstance(found, str) else _UNMATCHABLE

    return _VARIABLE.sub(variable, value)


def condition_holds(operator: str, pairs: Mapping[str, Any], context: Context) -> bool:
    qualifier, base, if_exists = _split(operator)
    for key, wanted_raw in pairs.items():
        wanted = [str(w) for w in listed(wanted_raw)] if not isinstance(wanted_raw, bool) else [str(wanted_raw)]
        wanted = [_substituted(w, context) if "${" in w else w for w in wanted]
        present = key in context
        if base == "Null":
            if (wanted[0].lower() == "true") == present:
                return False
            continue
        test, negated = OPERATORS[base]
        if not present:
            if if_exists or qualifier == "ForAllValues" or negated:
                continue
            return False
        values = listed(context[key])
        if qualifier == "ForAllValues":
            ok = all(any(test(v, w) for w in wanted) != negated for v in values)
        elif qualifier == "ForAnyValue":
            ok = any(any(test(v, w) for w in wanted) != negated for v in values)
        else:
            ok = any(any(test(v, w) for w in wanted) for v in values) != negated
        if not ok:
            return False
    return True


def principal_matches(principal: Any, who: Principal) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if who.service is not None:
        return who.service in listed(principal.get("Service"))
    if who.federated is not None:
        return who.federated in listed(principal.get("Federated"))
    for wanted in listed(principal.get("AWS")):
        if wanted in ("*", who.account, f"arn:aws:iam::{who.account}:root", who.arn) or wanted in who.aliases:
            return True
    return False


def _matches(patterns: Any, value: str) -> bool:
    return any(_like(value, p) for p in listed(patterns))


def applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Context, who: Principal | None = None
) -> bool:
    """Whether the statement speaks of this request (its Effect then decides)."""
    if "Principal" in statement and (who is None or not principal_matches(statement["Principal"], who)):
        return False
    if "Action" in statement and not _matches(statement["Action"], action):
        return False
    if "NotAction" in statement and _matches(statement["NotAction"], action):
        return False
    if "Resource" in statement and not _matches(statement["Resource"], resource):
        return False
    if "NotResource" in statement and _matches(statement["NotResource"], resource):
        return False
    return all(condition_holds(op, pairs, context) for op, pairs in (statement.get("Condition") or {}).items())


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    denied_by: tuple[str, ...] = ()  # Sids of the explicit denies
    allowed_by: tuple[str, ...] = ()


def evaluate(
    documents: Iterable[Mapping[str, Any] | str],
    action: str,
    resource: str,
    context: Context,
    who: Principal | None = None,
) -> Verdict:
    """The policies' joint answer: an explicit Deny wins, else an Allow allows, else implicitly denied."""
    denied: list[str] = []
    allowed: list[str] = []
    for document in documents:
        for statement in statements(document):
            if applies(statement, action, resource, context, who):
                (denied if statement.get("Effect") == "Deny" else allowed).append(str(statement.get("Sid", "?")))
    return Verdict(not denied and bool(allowed), tuple(denied), tuple(allowed))
