"""Events crossing accounts, as EventBridge delivers a rule's target that is another account's event bus:
the rule's ``RoleArn`` must be allowed ``events:PutEvents`` on that bus by its own policies, and the bus's
resource policy (``AWS::Events::EventBusPolicy``, realised by slipway_local.resources) must allow that role
for this event's ``events:source`` and ``events:detail-type``. A delivery either refuses is dropped and
logged, as EventBridge counts a failed invocation. moto delivers every cross-account event unchecked, and
as a new event of the receiving account; EventBridge keeps the event as sent (its ``account``, ``id`` and
``time`` are the sender's: a rule matching ``account`` sees where it came from), and so does ``deliver``."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from slipway_local import iam, policy
from slipway_local.routing import acting_as

__all__ = ["CONTEXT_KEYS", "deliver", "refusal", "validate_statement"]

log = logging.getLogger("slipway_local.events")

# the condition keys a bus policy may use here: what refusal() puts in the request context
CONTEXT_KEYS = frozenset({"aws:PrincipalArn", "aws:PrincipalAccount", "events:source", "events:detail-type"})


def validate_statement(statement: dict[str, Any]) -> None:
    """Refuse a bus policy statement the evaluation below would get wrong (an unknown operator or key)."""
    policy.check({"Statement": [statement]})
    for pairs in (statement.get("Condition") or {}).values():
        unknown = set(pairs) - CONTEXT_KEYS
        if unknown:
            raise policy.PolicyError(f"condition keys {sorted(unknown)} are not realised by the local cloud")


def refusal(rule_account: str, target: dict[str, Any], event: dict[str, Any]) -> str | None:
    """None when the rule's role may put ``event`` on the target bus of another account; otherwise why not."""
    from moto.events.models import events_backends
    from moto.iam.exceptions import NotFoundException

    bus_arn = str(target["Arn"])
    _, _, _, region, owner, resource = bus_arn.split(":", 5)
    if owner == rule_account:
        return None
    role_arn = target.get("RoleArn")
    if not role_arn:
        return f"the target {bus_arn} names no role"
    try:
        identity = iam.identity_of_role(str(role_arn))
    except NotFoundException as e:
        return f"the role {role_arn} cannot be used ({e})"
    context: dict[str, str | list[str]] = {
        "events:source": str(event.get("source", "")),
        "events:detail-type": str(event.get("detail-type", "")),
    }
    why = iam.decide(identity, iam.Request("events:PutEvents", bus_arn, context))
    if why is not None:
        return f"{role_arn}: {why}"
    bus = events_backends[owner][region].describe_event_bus(resource.removeprefix("event-bus/"))
    document = json.loads(bus.policy) if bus.policy else {"Statement": []}
    context = {**context, "aws:PrincipalArn": identity.principal.arn, "aws:PrincipalAccount": rule_account}
    verdict = policy.evaluate([document], "events:PutEvents", bus_arn, context, identity.principal)
    if verdict.denied_by or not verdict.allowed_by:
        return f"the policy of {bus_arn} does not let {role_arn} put {context['events:detail-type']} events"
    return None


def deliver(rule_account: str, rule_name: str, target: dict[str, Any], event: dict[str, Any]) -> None:
    """Put ``event`` on the target bus of another account as sent, for that bus's rules; or log why not."""
    from moto.events.models import events_backends

    why = refusal(rule_account, target, event)
    if why is not None:
        log.warning("rule %s did not deliver %s to %s: %s", rule_name, event.get("detail-type"), target["Arn"], why)
        return
    _, _, _, region, owner, resource = str(target["Arn"]).split(":", 5)
    bus = events_backends[owner][region].describe_event_bus(resource.removeprefix("event-bus/"))
    with acting_as(None):  # what the bus's rules start acts as its own account, not as the sender
        for rule in list(bus.rules.values()):
            rule.send_to_targets(copy.deepcopy(event))  # type: ignore[arg-type]  # a TypedDict of the same keys
