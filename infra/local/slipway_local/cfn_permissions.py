"""CloudFormation acts with the rights of whoever executes a change set (or of the service role they pass): before a
change set runs, every action each resource's handlers call to create, update and delete it (cfn_handlers: the
registry schemas cfn-lint ships) is evaluated against that principal's policies by the local cloud's own IAM
evaluator (slipway_local.iam: identity policies, permissions boundary, conditions). A missing one fails the stack,
naming the resource, its type, the action, the ARN it acts on and the role and policies to change.

Why not moto's evaluator (``moto.iam.access_control.IAMPolicy``): it turns any Allow with a Condition into a Deny
(the deployment role's key and PassRole statements have conditions), matches only ``*`` for most services and
ignores permissions boundaries (slipway_local.policy says more)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from slipway_local.cfn_handlers import Need, needs
from slipway_local.cfn_names import Names

__all__ = ["REFUSALS", "Missing", "Refusal", "check", "check_change_set", "missing_for"]

# (account, stack name) -> the refusal that failed its last change set (the rehearsal reads it)
REFUSALS: dict[tuple[str, str], Refusal] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Missing:
    need: Need
    why: str

    def line(self) -> str:
        n = self.need
        return f"{n.logical_id} ({n.resource_type}): {n.action} on {n.resource} [{'/'.join(n.phases)}] - {self.why}"


@dataclass
class Refusal:
    """What the principal lacks to deploy the stack; ``unclear``: schema actions the check could not place."""

    principal: str
    policies: list[str]
    missing: list[Missing]
    unclear: list[Missing] = field(default_factory=list)

    def reason(self) -> str:
        first = self.missing[0].need
        return (
            f"{len(self.missing)} permission(s) missing for {self.principal} (first: {first.logical_id} "
            f"{first.resource_type} needs {first.action} on {first.resource}); change {self.where()}"
        )

    def where(self) -> str:
        return f"the role {self.principal.rsplit('/', 1)[-1]} (policies: {', '.join(self.policies) or 'none'})"

    def events(self) -> list[tuple[str, str, str]]:
        """One failed-resource event per resource: its missing actions, as CloudFormation's handler would say."""
        by_resource: dict[tuple[str, str], list[str]] = {}
        for m in self.missing:
            by_resource.setdefault((m.need.logical_id, m.need.resource_type), []).append(
                f"{m.need.action} on resource: {m.need.resource}"
            )
        return [
            (logical, kind, f"User: {self.principal} is not authorized to perform: {'; '.join(actions)}")
            for (logical, kind), actions in by_resource.items()
        ]


# What a call CloudFormation makes for a deploy, with the deploying principal's credentials, carries.
VIA_CLOUDFORMATION: dict[str, str | list[str]] = {
    "aws:CalledVia": ["cloudformation.amazonaws.com"],
    "aws:CalledViaFirst": "cloudformation.amazonaws.com",
    "aws:CalledViaLast": "cloudformation.amazonaws.com",
    "aws:ViaAWSService": "true",
}


def _context(names: Names, need: Need) -> dict[str, str | list[str]]:
    context: dict[str, str | list[str]] = {
        "aws:RequestedRegion": names.region,
        **VIA_CLOUDFORMATION,
        "aws:SecureTransport": "true",
    }
    context.update(dict(need.context))
    return context


def missing_for(identity: Any, names: Names, stack_tags: dict[str, str]) -> tuple[list[Missing], list[Missing]]:
    """(what the identity lacks, what it lacks among the unclear actions), in template order."""
    from slipway_local.iam import Request, decide

    missing: list[Missing] = []
    unclear: list[Missing] = []
    seen: set[tuple[str, str, str]] = set()
    for need in needs(names, stack_tags):
        key = (need.logical_id, need.action, need.resource)
        if key in seen:
            continue
        seen.add(key)
        why = decide(identity, Request(need.action, need.resource, _context(names, need)))
        if why is not None:
            (unclear if need.unclear else missing).append(Missing(need, why))
    return missing, unclear


def _policy_names(identity: Any) -> list[str]:
    from moto.iam.models import iam_backends

    arn = identity.principal.arn
    if ":role/" not in arn:
        return []
    backend = iam_backends[identity.principal.account]["aws"]
    role = backend.get_role_by_arn(arn)
    return sorted(role.policies) + sorted(p.name for p in role.managed_policies.values())


def check(identity: Any, names: Names, stack_tags: dict[str, str]) -> Refusal | None:
    missing, unclear = missing_for(identity, names, stack_tags)
    if not missing:
        return None
    return Refusal(identity.principal.arn, _policy_names(identity), missing, unclear)


def _caller(response: Any) -> Any | None:
    """The IAM principal that signed the request, or None for the local cloud's own machinery and keys that are not
    an IAM user's or an assumed role's (the fake keys acting as an account's root)."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
    from moto.utilities.utils import get_partition

    from slipway_local.iam import identity_of
    from slipway_local.routing import ACCOUNT_HEADER

    headers = response.headers
    authorization = headers.get("Authorization") or ""
    if headers.get(ACCOUNT_HEADER) or "Credential=" not in authorization:
        return None
    key_id = authorization.split("Credential=", 1)[1].split("/", 1)[0]
    try:
        key = create_access_key(response.current_account, get_partition(response.region), key_id, headers)
    except CreateAccessKeyFailure:
        return None
    return identity_of(key)


def check_change_set(response: Any, change_set: Any) -> Refusal | None:
    """Before ExecuteChangeSet: the executing principal (or the service role it passed) against the change set's
    template. A refusal is also kept in REFUSALS."""
    from slipway_local.iam import Request, decide, identity_of_role

    caller = _caller(response)
    if caller is None:
        return None
    stack = change_set.stack
    identity = caller
    if change_set.role_arn:  # CloudFormation acts as the service role, which the caller must be allowed to pass
        passed = Request("iam:PassRole", change_set.role_arn, {"iam:PassedToService": "cloudformation.amazonaws.com"})
        why = decide(caller, passed)
        if why is not None:
            need = Need(
                stack.name,
                "AWS::CloudFormation::Stack",
                ("create", "update", "delete"),
                "iam:PassRole",
                change_set.role_arn,
            )
            return _kept(stack, Refusal(caller.principal.arn, _policy_names(caller), [Missing(need, why)]))
        identity = identity_of_role(change_set.role_arn)
    names = Names(change_set.template_dict, change_set.parameters, stack.account_id, stack.region_name, stack.name)
    refusal = check(identity, names, dict(change_set.tags or {}))
    return _kept(stack, refusal) if refusal else None


def _kept(stack: Any, refusal: Refusal) -> Refusal:
    with _lock:
        REFUSALS[(stack.account_id, stack.name)] = refusal
    return refusal
