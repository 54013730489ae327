"""The console's pure parts: who a refusal names and what it says, and the lineage graph's columns."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from slipway.errors import Forbidden, NotFound
from slipway_cli.console.access import refusal, role_of
from slipway_cli.console.graph import lineage_svg
from slipway_cli.main import main

MEMBER = "arn:aws:sts::333333333333:assumed-role/slipway-prod-data-engineer/data-engineer-member"


def test_a_refused_call_names_the_role_the_act_and_aws_reason() -> None:
    # GIVEN the API's 403 as the CLI's operate call raises it, and a DynamoDB AccessDenied
    api = Forbidden(f"User: {MEMBER} is not authorized to perform: execute-api:Invoke on resource: arn:x")
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": f"User: {MEMBER} is not authorized to perform: "
                   "dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:333333333333:table/t"}},
        "Query",
    )  # fmt: skip
    # WHEN the console reads them
    approving = refusal(api, MEMBER, "approve the promotion of churn in prod")
    reading = refusal(denied, MEMBER, "list the models of prod")

    # THEN each is one sentence naming the role, what was tried and the action AWS refused, with AWS's message
    assert approving is not None and reading is not None
    assert approving.headline == (
        "your role slipway-prod-data-engineer may not approve the promotion of churn in prod (execute-api:Invoke)"
    )
    assert reading.headline.endswith("may not list the models of prod (dynamodb:Query)")
    assert "is not authorized" in reading.message
    # AND other failures are not refusals
    assert refusal(NotFound("no model churn"), MEMBER, "read churn") is None
    assert refusal(ClientError({"Error": {"Code": "ThrottlingException"}}, "Query"), MEMBER, "x") is None


def test_roles_and_users_are_named_as_people_read_them() -> None:
    assert role_of(MEMBER) == "role slipway-prod-data-engineer"
    assert role_of("arn:aws:iam::111111111111:user/ops/alice") == "user alice"
    assert role_of("unknown caller") == "unknown caller"


def test_the_lineage_graph_puts_each_node_after_what_fed_it() -> None:
    # GIVEN a promoted version's upstream edges (as prod records them) and its promotion
    edges = [
        {"upstream": "raw:s3://raw/churn/a.csv?versionId=v1", "downstream": "dataset:churn:d", "kind": "curated_into"},
        {"upstream": "spec:churn:s", "downstream": "dataset:churn:d", "kind": "validated"},
        {"upstream": "dataset:churn:d", "downstream": "features:churn:f", "kind": "featurised_into"},
        {"upstream": "features:churn:f", "downstream": "run:r1", "kind": "trained_in"},
        {"upstream": "run:r1", "downstream": "model:churn:1@dev", "kind": "registered_as"},
        {"upstream": "model:churn:1@dev", "downstream": "model:churn:1", "kind": "promoted_as"},
    ]
    promotion = {
        "source_env": "staging", "source_version": 1, "target_env": "prod", "target_version": 3, "status": "SUCCEEDED",
    }  # fmt: skip
    # WHEN it is drawn, with what v3 serves as in prod
    svg = lineage_svg(edges, "model:churn:1", [promotion], {"prod": {3: ["production"], 2: ["challenger"]}})

    # THEN every node is there once, named by its kind, in a column after each node that fed it
    nodes = dict(re.findall(r'data-node="([^"]+)"><title>[^<]*</title><rect x="(\d+)"', svg))
    assert len(nodes) == 9
    column = {node: int(x) for node, x in nodes.items()}
    for e in edges:
        assert column[e["upstream"]] < column[e["downstream"]], e
    assert "curated dataset" in svg and "feature set" in svg and "promotion" in svg and "churn v1 in dev" in svg
    assert 'class="node model self"' in svg  # the page's own version stands out
    # AND the promotion leads to the environment it went into: the version there and what it serves as
    promoted = "promotion:staging v1 → prod: SUCCEEDED"
    assert column["env:prod: v3 (production)"] > column[promoted] > column["model:churn:1"]
    assert ">environment</text>" in svg


def test_ui_leaves_out_an_environment_it_cannot_reach(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an operator naming a profile their AWS config does not have
    # WHEN they start the console on that environment alone
    code = main(["ui", "--env", "dev", "--profile", "no-such-profile"])
    # THEN it says which environment it left out and why, in one line each, and starts nothing
    out = capsys.readouterr().out
    assert code == 2
    assert "dev left out: ProfileNotFound" in out and "no environment could be reached" in out
    assert "Traceback" not in out
