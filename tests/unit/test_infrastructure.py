"""Static checks of what `sam deploy` ships: ASL placeholders and transitions, error names the
ASL matches, one retry policy and error paths of its own for every Catch, handler files, pins of
the shipped requirements, least-privilege roles with one KMS policy, and cfn-lint on the template."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from slipway.errors import ALL_ERRORS
from slipway_local.packaging import load_sam_template, package

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted((ROOT / "statemachines").glob("*.asl.json"))
TEMPLATE = load_sam_template(ROOT / "infra" / "template.yaml")
AWS_ERROR_PREFIXES = ("States.", "Lambda.")

# The one retry policy of every Lambda Task: our TransientError and the Lambda service's transient
# errors, three attempts with exponential backoff. ASL JSON has no anchors, so each Task carries a copy
# of it; the test below keeps the copies from drifting apart.
LAMBDA_RETRY: list[dict[str, Any]] = [
    {
        "ErrorEquals": [
            "TransientError",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ],
        "IntervalSeconds": 1,
        "BackoffRate": 2.0,
        "MaxAttempts": 3,
    }
]
# Lambda Tasks whose Retry deliberately differs from LAMBDA_RETRY: "<file>:<state>" -> its Retry
# (with a comment saying why). None does today.
RETRY_DIFFERS: dict[str, list[dict[str, Any]]] = {}

# The one IAM policy that lets a function use the stack's KMS key (SSE-KMS buckets, encrypted table).
DATA_KEY_POLICY = "DataKeyUsePolicy"
DATA_KEY_ACTIONS = {"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"}


def _state_machine_resources() -> dict[str, dict[str, Any]]:
    return {
        Path(r["Properties"]["DefinitionUri"]).name: r["Properties"]
        for r in TEMPLATE["Resources"].values()
        if r["Type"] == "AWS::Serverless::StateMachine"
    }


def _all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """States of a machine including those nested in Map/Parallel branches, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_all_states(branch["States"]))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(_all_states(processor["States"]))
    return found


def _is_lambda_task(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return state.get("Type") == "Task" and (
        resource.startswith(("arn:aws:states:::lambda:invoke", "arn:aws:lambda:")) or resource.endswith("FunctionArn}")
    )


def _lambda_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in _all_states(definition["States"]).items() if _is_lambda_task(state)}


def _count_lambda_tasks(node: Any) -> int:
    """Lambda Tasks anywhere in the JSON, found without knowing where ASL nests states."""
    if isinstance(node, dict):
        return int(_is_lambda_task(node)) + sum(_count_lambda_tasks(v) for v in node.values())
    if isinstance(node, list):
        return sum(_count_lambda_tasks(v) for v in node)
    return 0


def _overlaps(path: str, other: str) -> bool:
    return path == other or path.startswith(other + ".") or other.startswith(path + ".")


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    if "Default" in state:
        targets.append(state["Default"])
    return targets


def test_every_state_machine_file_is_deployed_by_the_template() -> None:
    assert {m.name for m in MACHINES} == set(_state_machine_resources())


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_placeholder_is_supplied_by_the_template(path: Path) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    supplied = set(_state_machine_resources()[path.name].get("DefinitionSubstitutions", {}))
    assert placeholders - supplied == set(), "placeholders the template does not supply"
    assert supplied - placeholders == set(), "substitutions no state uses"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_next_exists_and_every_state_is_reachable(path: Path) -> None:
    definition = json.loads(path.read_text())

    def check(scope: dict[str, Any]) -> None:
        states = scope["States"]
        assert scope["StartAt"] in states
        reachable, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            if name in reachable:
                continue
            reachable.add(name)
            for target in _targets(states[name]):
                assert target in states, f"{name} → {target} does not exist"
                todo.append(target)
        assert reachable == set(states), f"unreachable: {set(states) - reachable}"
        for state in states.values():
            for branch in state.get("Branches", []):
                check(branch)
            if state.get("ItemProcessor") or state.get("Iterator"):
                check(state.get("ItemProcessor") or state.get("Iterator"))

    check(definition)


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_matched_error_name_is_a_slipway_error_class(path: Path) -> None:
    for name, state in _all_states(json.loads(path.read_text())["States"]).items():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert error.startswith(AWS_ERROR_PREFIXES) or error in ALL_ERRORS, f"{name}: {error}"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_lambda_task_retries_with_the_one_policy(path: Path) -> None:
    definition = json.loads(path.read_text())
    tasks = _lambda_tasks(definition)
    assert len(tasks) == _count_lambda_tasks(definition), "a Lambda Task the state walk does not reach"
    differs = {
        name: state.get("Retry")
        for name, state in tasks.items()
        if state.get("Retry") != RETRY_DIFFERS.get(f"{path.name}:{name}", LAMBDA_RETRY)
    }
    assert differs == {}, "Retry differs from LAMBDA_RETRY (or from its entry in RETRY_DIFFERS)"


def test_every_retry_exception_names_a_lambda_task_that_differs() -> None:
    for key, retry in RETRY_DIFFERS.items():
        file, _, name = key.partition(":")
        tasks = _lambda_tasks(json.loads((ROOT / "statemachines" / file).read_text()))
        assert name in tasks, f"{key}: no such Lambda Task"
        assert retry != LAMBDA_RETRY, f"{key}: same as LAMBDA_RETRY, drop the exception"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_catch_writes_the_error_to_its_own_result_path(path: Path) -> None:
    # Without a ResultPath (or with "$") the error replaces the state's input, and the failure handler
    # loses the run's context; on a path a step writes its result to, one overwrites the other.
    states = _all_states(json.loads(path.read_text())["States"])
    result_paths = {
        name: p
        for name, state in states.items()
        if state["Type"] in ("Task", "Map", "Parallel")
        for p in (state.get("ResultPath"), state.get("OutputPath"))
        if isinstance(p, str)
    }
    error_path_of_handler: dict[str, str] = {}
    catches = [(name, catch) for name, state in states.items() for catch in state.get("Catch", [])]
    assert catches or "Catch" not in path.read_text()
    for name, catch in catches:
        error_path = catch.get("ResultPath")
        assert isinstance(error_path, str) and error_path.startswith("$."), f"{name}: Catch ResultPath {error_path!r}"
        clashes = {other for other, p in result_paths.items() if _overlaps(error_path, p)}
        assert clashes == set(), f"{name}: Catch writes {error_path}, which {clashes} also write"
        expected = error_path_of_handler.setdefault(catch["Next"], error_path)
        assert error_path == expected, f"{name}: {catch['Next']} reads the error from {expected}, not {error_path}"


def test_every_function_handler_exists() -> None:
    template_dir = ROOT / "infra"
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            root = template_dir / resource["Metadata"]["DockerContext"]
            handler = props["ImageConfig"]["Command"][0]
            assert (template_dir / resource["Metadata"]["DockerContext"] / resource["Metadata"]["Dockerfile"]).exists()
        else:
            root, handler = template_dir / props["CodeUri"], props["Handler"]
        module, _, function = handler.rpartition(".")
        source = (root / module.replace(".", "/")).with_suffix(".py")
        assert source.exists(), f"{logical_id}: {source}"
        assert function in _top_level_names(source), f"{logical_id}: no {function} in {source}"


def _top_level_names(source: Path) -> set[str]:
    """What a module defines at its top level: functions, and names bound by assignment (a
    handler declared as `lambda_handler = step_handler(...)`)."""
    names = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


@pytest.mark.parametrize(
    "requirements",
    ["layers/core/requirements.txt", "layers/science/requirements.txt", "layers/inference/requirements.txt"],
)
def test_shipped_requirements_match_the_project_pins(requirements: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {d.split("==")[0].split("[")[0].lower(): d.split("==")[1] for d in project}
    for line in (ROOT / requirements).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            assert pins.get(name.lower()) == version, f"{requirements}: {line} vs pyproject"


def test_cfn_lint_passes_on_the_template() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(ROOT / "infra" / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The one role several functions share: every promotion step runs as it (the principal the source's bucket
# policy trusts, the actor of every alias move a promotion makes).
PROMOTION_ROLE = "PromotionRole"
# Grants that differ from the rules below, each with the one place it is allowed and why.
# DeleteItem: an alias is cleared (the challenger after a canary) and the promotion lock released only by a
# conditional delete of their items; nothing else is ever deleted.
TABLE = {"Fn::GetAtt": ["MetadataTable", "Arn"]}
DRIFT_RULES = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/slipway-${EnvName}-drift-*"
}
DELETE_ALLOWED = {
    (PROMOTION_ROLE, "ClearChallengerAndReleaseLock"): (["dynamodb:DeleteItem"], TABLE),
    ("OperateRole", "ClearAliases"): (["dynamodb:DeleteItem"], TABLE),  # `slipway aliases clear`, logged with it
    # a pushed spec without monitoring removes the model's drift schedule (a rule, no data)
    ("OperateRole", "ScheduleDriftChecks"): (
        ["events:PutRule", "events:RemoveTargets", "events:DeleteRule", "events:DescribeRule"],
        DRIFT_RULES,
    ),
}
# Task tokens name no resource: the operate function answers a promotion's approval, and only that.
TASK_ANSWERS = {("OperateRole", "AnswerApprovals"): ["states:SendTaskSuccess", "states:SendTaskFailure"]}
# kms:Decrypt of another account's key, through S3 only: the promotion source's SSE-KMS artifacts, and for dev's
# retraining staging's and prod's labelled captures (their key policies name the curate role).
KMS_ALLOWED = {(PROMOTION_ROLE, "PromotionSourceKeyPolicy"), ("CurateRetrainingRole", "CaptureSourcesKeyPolicy")}
# A state machine's log delivery to CloudWatch Logs: AWS's log-delivery API names no resource ("*"), and its
# DeleteLogDelivery deletes a delivery, not data. Only these actions, only under this Sid.
LOG_DELIVERY = (
    "DeliverErrorLogs",
    {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    },
)


def _role_of(resource: dict[str, Any]) -> str | None:
    role = resource["Properties"].get("Role")
    return role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else None


def _grants(logical_id: str) -> tuple[list[Any], list[str]]:
    """The policies a function or state machine holds — SAM ``Policies``, or its explicit role's inline policies
    and the template's managed policies it attaches — and the names of those managed policies."""
    resources = TEMPLATE["Resources"]
    resource = resources[logical_id]
    role = _role_of(resource)
    if role is None:
        policies = resource["Properties"].get("Policies", [])
        refs = [p["Ref"] for p in policies if isinstance(p, dict) and "Ref" in p]
    else:
        props = resources[role]["Properties"]
        policies = [p["PolicyDocument"] for p in props.get("Policies", [])]
        attached = json.dumps(props.get("ManagedPolicyArns", []))
        refs = [name for name in re.findall(r'"Ref": "(\w+)"', attached) if name in resources]
    managed = [r for r in refs if resources.get(r, {}).get("Type") == "AWS::IAM::ManagedPolicy"]
    # A policy defined once in the template and referenced (`- !Ref SomePolicy`) is checked as if inline.
    return [*policies, *(resources[m]["Properties"]["PolicyDocument"] for m in managed)], managed


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every IAM statement in a policy tree (inside Fn::If branches too)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            return [node]
        return [s for v in node.values() for s in _statements(v)]
    if isinstance(node, list):
        return [s for v in node for s in _statements(v)]
    return []


def test_no_function_may_delete_data_or_holds_broad_policies() -> None:
    # Raw objects are never deleted by the pipeline; artifacts and metadata are only added or updated.
    forbidden = (
        "S3CrudPolicy",
        "S3FullAccessPolicy",
        "DynamoDBCrudPolicy",
        "AmazonS3FullAccess",
        "AdministratorAccess",
    )
    resources = TEMPLATE["Resources"]
    checked_roles = set()
    for logical_id, resource in resources.items():
        if resource["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            continue
        role = _role_of(resource)
        checked_roles.add(role)
        policies, _ = _grants(logical_id)
        allowed_deletes = {
            sid: actions for (owner, sid), actions in DELETE_ALLOWED.items() if owner == role and role is not None
        }
        kept = []
        for statement in _statements(policies):
            if statement.get("Sid") == LOG_DELIVERY[0] and resource["Type"] == "AWS::Serverless::StateMachine":
                assert set(statement["Action"]) <= LOG_DELIVERY[1], statement
                continue
            if statement.get("Sid") in allowed_deletes:
                actions, resource = allowed_deletes[statement["Sid"]]
                assert statement["Action"] == actions and statement["Resource"] == resource, statement
                continue
            if (role, statement.get("Sid")) in TASK_ANSWERS:
                assert statement["Action"] == TASK_ANSWERS[role, statement["Sid"]], statement
                continue
            kept.append(statement)
        text = json.dumps([p for p in policies if not _statements(p)] + kept)
        assert not any(name in text for name in forbidden), logical_id
        assert '"s3:*"' not in text and '"dynamodb:*"' not in text and "Delete" not in text, logical_id
        assert '"kms:*"' not in text and '"Resource": "*"' not in text, logical_id
    assert PROMOTION_ROLE in checked_roles  # the shared role's policies were checked, not skipped


def test_every_function_uses_the_stack_key_through_the_one_policy() -> None:
    resources = TEMPLATE["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions
    for logical_id, resource in functions.items():
        role = _role_of(resource)
        policies, managed = _grants(logical_id)
        assert DATA_KEY_POLICY in managed, f"{logical_id} does not hold {DATA_KEY_POLICY}"
        others = [
            p
            for p, name in zip(policies, [None] * (len(policies) - len(managed)) + managed, strict=True)
            if name != DATA_KEY_POLICY and (role, name) not in KMS_ALLOWED
        ]
        assert "kms" not in json.dumps(others).lower(), f"{logical_id}: a KMS grant besides {DATA_KEY_POLICY}"
    policy = resources[DATA_KEY_POLICY]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    assert not {"Roles", "Users", "Groups"} & set(policy["Properties"]), "attached only where a function lists it"
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert statement["Effect"] == "Allow", statement
        assert set(actions) == DATA_KEY_ACTIONS, f"{DATA_KEY_POLICY} grants {actions}"
        assert statement["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}, "scoped to the stack's own key"
    for _, name in KMS_ALLOWED:  # the one other KMS grant: decrypt only, only through S3
        (statement,) = resources[name]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == "kms:Decrypt" and "kms:ViaService" in statement["Condition"]["StringEquals"]


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    """The template after aws-sam-translator, as the local cloud deploys it: the roles functions really get."""
    parameters = {"EnvName": "dev", "LogLevel": "INFO", "CodeVersion": ""}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        packaged = package(parameters, account_id="123456789012", region="us-east-1", deploy_bucket="deploy")
    return packaged.cloudformation


def test_every_function_role_holds_the_data_key_policy_and_no_other_kms_grant(
    cloudformation: dict[str, Any],
) -> None:
    resources = cloudformation["Resources"]
    function_roles = {
        r["Properties"]["Role"]["Fn::GetAtt"][0] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
    }
    assert function_roles
    for role in function_roles:
        assert {"Ref": DATA_KEY_POLICY} in resources[role]["Properties"]["ManagedPolicyArns"], role
    for logical_id, resource in resources.items():
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            props = resource["Properties"]
            inline = [*props.get("Policies", []), props.get("PolicyDocument", {})]
            assert "kms:" not in json.dumps(inline), f"{logical_id}: a KMS grant outside {DATA_KEY_POLICY}"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_statelint_agrees_the_definition_is_valid(path: Path) -> None:
    # A peer validator (AWS's statelint rules, from PyPI) as an independent check of the ASL.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "statelint"), str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_every_function_runs_on_a_supported_python_runtime() -> None:
    """python3.11 can no longer be created on Lambda (deprecated 2026-06-30); zip functions, layers and
    the science image all target python3.13."""
    functions = {k: r for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    runtimes = {TEMPLATE["Globals"]["Function"].get("Runtime")} | {
        r["Properties"].get("Runtime") for r in functions.values()
    }
    assert runtimes - {None} == {"python3.13"}
    for key, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert resource["Properties"]["CompatibleRuntimes"] == ["python3.13"], key
    assert "FROM public.ecr.aws/lambda/python:3.13" in (ROOT / "layers/science/Dockerfile").read_text()
    assert TEMPLATE["Globals"]["Function"]["Architectures"] == ["x86_64"]


def test_each_layer_is_built_by_its_makefile_with_bytecode_for_its_runtime() -> None:
    """sam build's makefile method runs `build-<LogicalId>` in the layer's ContentUri: a missing or misnamed
    target fails the build. The target compiles .pyc (unchecked-hash) with Python 3.13, the runtime's."""
    layers = {k: r for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"}
    assert set(layers) == {"CoreLayer", "InferenceLayer"}
    for key, resource in layers.items():
        assert resource["Metadata"]["BuildMethod"] == "makefile", key
        makefile = (ROOT / "infra" / resource["Properties"]["ContentUri"] / "Makefile").read_text()
        recipe = makefile.split(f"\nbuild-{key}:\n", 1)[1].split("\n\n", 1)[0]
        assert "python3.13" in makefile and "-r requirements.txt" in recipe, key
        assert "compileall" in recipe and "--invalidation-mode unchecked-hash" in recipe, key


def test_the_commit_hooks_run_what_make_test_runs_first() -> None:
    import yaml

    # GIVEN make test's recipe and the pre-commit configuration
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    commands = [line.strip().replace("$(BIN)", ".venv/bin") for line in recipe]
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    # THEN the hooks are make test's commands before `make check`, in its order, on the whole tree
    assert entries == commands[: commands.index("$(MAKE) --no-print-directory check")]
    assert all(not hook["pass_filenames"] for repo in config["repos"] for hook in repo["hooks"])
