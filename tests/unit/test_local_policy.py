"""The local cloud's IAM policy evaluator (slipway_local.policy) answers as AWS documents it: an explicit Deny
wins, nothing allowed is denied, and a condition on a key the request lacks is false for a positive operator,
true for a negated one, true with IfExists or ForAllValues, and what Null says."""

from __future__ import annotations

import pytest

from slipway_local.policy import PolicyError, Principal, check, condition_holds, evaluate

ROLE = "arn:aws:iam::111111111111:role/slipway-dev-platform"
TABLE = "arn:aws:dynamodb:us-east-1:111111111111:table/slipway-dev-metadata"


def _allow(action: str, resource: str, **condition: dict[str, object]) -> dict[str, object]:
    statement: dict[str, object] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Statement": [statement]}


@pytest.mark.parametrize(
    ("operator", "pairs", "context", "holds"),
    [
        ("StringEquals", {"k": "a"}, {}, False),
        ("StringNotEquals", {"k": "a"}, {}, True),
        ("StringNotEqualsIfExists", {"k": "a"}, {}, True),
        ("StringNotEqualsIfExists", {"k": "a"}, {"k": "a"}, False),
        ("StringLike", {"k": "SPEC#*"}, {"k": "SPEC#churn"}, True),
        ("ForAllValues:StringLike", {"k": ["SPEC#*", "AUDIT#*"]}, {"k": ["SPEC#a", "AUDIT#a"]}, True),
        ("ForAllValues:StringLike", {"k": ["SPEC#*"]}, {"k": ["SPEC#a", "MODEL#a"]}, False),
        ("ForAllValues:StringLike", {"k": ["SPEC#*"]}, {}, True),
        ("ForAnyValue:StringEquals", {"k": ["a"]}, {"k": ["b", "a"]}, True),
        ("Null", {"k": "true"}, {}, True),
        ("Null", {"k": "false"}, {}, False),
        ("Bool", {"aws:SecureTransport": "false"}, {"aws:SecureTransport": "true"}, False),
        ("ArnNotEquals", {"aws:PrincipalArn": ROLE}, {"aws:PrincipalArn": ROLE}, False),
    ],
)
def test_conditions(operator: str, pairs: dict[str, object], context: dict[str, object], holds: bool) -> None:
    assert condition_holds(operator, pairs, context) is holds  # type: ignore[arg-type]


def test_explicit_deny_wins_and_nothing_allowed_is_denied() -> None:
    allow = _allow("dynamodb:*", TABLE)
    deny = {"Statement": [{"Sid": "No", "Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}]}
    assert evaluate([allow, deny], "dynamodb:GetItem", TABLE, {}).allowed
    refused = evaluate([allow, deny], "dynamodb:DeleteItem", TABLE, {})
    assert not refused.allowed and refused.denied_by == ("No",)
    assert not evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/k", {}).allowed


def test_attributes_condition_keeps_an_answer_from_moving_an_alias() -> None:
    answers = _allow(
        "dynamodb:UpdateItem", TABLE, **{"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "status"]}}
    )
    assert evaluate([answers], "dynamodb:UpdateItem", TABLE, {"dynamodb:Attributes": ["PK", "SK", "status"]}).allowed
    moved = {"dynamodb:Attributes": ["PK", "SK", "version"]}
    assert not evaluate([answers], "dynamodb:UpdateItem", TABLE, moved).allowed


def test_resource_policy_principals() -> None:
    grant = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "s3:GetObject"}
        ]
    }
    staging = Principal("222222222222", "arn:aws:iam::222222222222:role/slipway-staging-promotion")
    prod = Principal("333333333333", "arn:aws:iam::333333333333:role/slipway-prod-promotion")
    assert evaluate([grant], "s3:GetObject", "arn:aws:s3:::b/k", {}, staging).allowed
    assert not evaluate([grant], "s3:GetObject", "arn:aws:s3:::b/k", {}, prod).allowed


def test_what_is_not_realised_is_refused_not_ignored() -> None:
    with pytest.raises(PolicyError, match="NumericLessThan"):
        check(_allow("s3:*", "*", NumericLessThan={"s3:max-keys": "10"}))
    with pytest.raises(PolicyError, match="policy variables"):
        check(_allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"))
