"""The CLI refuses a bad spec before touching AWS, writes sample data, and works without the local extra
(the local cloud's subcommands then say what to install)."""

from __future__ import annotations

import argparse
import builtins
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipway_cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_spec_push_names_the_fields_of_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the churn spec with a typo'd column type and an impossible gate
    text = (ROOT / "specs" / "churn.yaml").read_text()
    text = text.replace("type: int\n      min: 18", "type: integer\n      min: 18", 1)
    bad = tmp_path / "churn.yaml"
    bad.write_text(text)

    # WHEN it is pushed (no AWS credentials or stack are needed to refuse it)
    code = main(["spec", "push", str(bad), "--env", "dev", "--profile", "no-such-profile"])

    # THEN the command fails with the field named
    out = capsys.readouterr().out
    assert code == 2
    assert "SpecError" in out
    assert "data.columns.3.type" in out


def test_sample_churn_writes_the_demo_data_for_an_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN nothing but the CLI (no cloud, no credentials)
    from slipway_cli.samples import make_churn, to_csv_bytes, to_parquet_bytes

    # WHEN a user asks for the churn sample as CSV and as Parquet
    csv_code = main(["sample", "churn", "--rows", "500", "--seed", "3", "--out", str(tmp_path / "churn.csv")])
    parquet_code = main(["sample", "churn", "--rows", "500", "--seed", "3", "--out", str(tmp_path / "churn.parquet")])

    # THEN each file holds exactly the frame the demo and the tests generate
    assert (csv_code, parquet_code) == (0, 0)
    assert (tmp_path / "churn.csv").read_bytes() == to_csv_bytes(make_churn(500, seed=3))
    assert (tmp_path / "churn.parquet").read_bytes() == to_parquet_bytes(make_churn(500, seed=3))
    assert "500 churn rows" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["local", "up"], ["local", "tick"], ["demo"]])
def test_local_subcommands_without_the_local_extra_say_what_to_install(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an installation without the `local` extra: importing the local cloud fails
    real_import = builtins.__import__

    def refuse_local(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in {"slipway_local", "moto", "samtranslator"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_local)

    # WHEN the subcommand runs
    code = main(command)

    # THEN it exits 2 with one line naming the install command
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'slipway[local]'" in err


# Run as a user without the extra: a meta path finder refuses the local cloud and the emulator.
_WITHOUT_LOCAL_EXTRA = """
import sys

class RefuseLocalExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"moto", "samtranslator", "slipway_local"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, RefuseLocalExtra())
import slipway_cli.main
sys.exit(slipway_cli.main.main(sys.argv[1:]))
"""


def _slipway_without_local_extra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_LOCAL_EXTRA, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_cli_works_without_the_local_extra() -> None:
    # GIVEN a Python that cannot import moto, samtranslator or slipway_local
    # WHEN the operator CLI is imported and asked for help
    top, runs = _slipway_without_local_extra("--help"), _slipway_without_local_extra("runs", "--help")
    # THEN both answer, listing the commands and the options to reach any account
    assert top.returncode == 0, top.stderr
    assert all(word in top.stdout for word in ("runs", "models", "lineage", "reproduce", "spec", "sample", "local"))
    assert runs.returncode == 0, runs.stderr
    assert "--profile" in runs.stdout and "--endpoint-url" in runs.stdout

    # WHEN the local cloud is asked for
    up = _slipway_without_local_extra("local", "up")
    # THEN it exits 2 with the install hint, and no traceback
    assert up.returncode == 2
    assert "pip install 'slipway[local]'" in up.stderr and "Traceback" not in up.stderr


def test_an_unknown_profile_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an operator naming a profile their AWS config does not have
    # WHEN they list runs
    code = main(["runs", "--env", "dev", "--profile", "no-such-profile"])

    # THEN the command fails with the profile named
    out = capsys.readouterr().out
    assert code == 2
    assert "ProfileNotFound" in out and "no-such-profile" in out


def test_promotion_execution_names_fit_step_functions() -> None:
    from datetime import UTC, datetime

    from slipway.operations.acts import execution_name

    at = datetime(2026, 11, 25, 9, 30, 1, 123456, tzinfo=UTC)
    name = execution_name("churn@production", "staging", at)
    assert name.startswith("promote-churn-production-from-staging-20261125T093001Z-")
    long = execution_name("a" + "b" * 40 + "@" + "c" * 60, "dev", at)
    assert len(long) <= 80 and all(c.isalnum() or c in "-_" for c in long)
    assert execution_name("churn@1", "dev", at) != execution_name("churn@1", "dev", at.replace(microsecond=1))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["promote", "churn@1", "--from", "dev", "--to", "prod"], "prod takes versions from staging, not from dev"),
        (["promote", "churn@1", "--from", "staging", "--to", "staging"], "staging takes versions from dev"),
    ],
)
def test_promote_refuses_a_source_the_target_does_not_take(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slipway_cli import main as cli
    from slipway_cli import promotion

    class NoAws:
        env = argv[argv.index("--to") + 1]

    monkeypatch.setattr(cli, "_target_in", lambda args, env: NoAws())
    with pytest.raises(SystemExit, match=message):
        promotion.start(NoAws(), "churn@1", argv[argv.index("--from") + 1], "")  # type: ignore[arg-type]
    with pytest.raises(SystemExit, match=message):
        cli.main(argv)


def _leaf_options(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, set[str]]:
    """Each command (``spec check``…) with the options it takes."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: dict[str, set[str]] = {}
            for name, sub in action.choices.items():
                found.update(_leaf_options(sub, f"{prefix} {name}".strip()))
            return found
    return {prefix: {o for a in parser._actions for o in a.option_strings}}


def test_docs_name_every_command_without_env_or_json() -> None:
    # GIVEN the commands and their options, from the parser
    commands = _leaf_options(build_parser())
    lacking = {c for c, options in commands.items() if not {"--env", "--json"} <= options}
    # WHEN docs/cli.md's exceptions paragraph is read
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    paragraph = text[text.index("Exceptions (") : text.index("\n\n", text.index("Exceptions ("))]
    named = set(re.findall(r"`([a-z][a-z ]*[a-z])`", paragraph))
    # THEN every command lacking --env or --json is named there, and every command named lacks one
    assert lacking <= named
    assert named & set(commands) == lacking


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (403, {"message": "another person must answer it"}, "Forbidden: another person must answer it"),
        (422, {"message": "version 9 of churn does not exist"}, "SlipwayError: HTTP 422: version 9 of churn does not"),
        (500, {"message": "Internal Server Error"}, "SlipwayError: HTTP 500: Internal Server Error"),
    ],
)
def test_an_act_the_api_refuses_ends_in_one_line(
    status: int, body: dict[str, Any], said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from slipway_cli import main as cli
    from slipway_cli import serving

    # GIVEN an environment whose operate route refuses the act
    def refuse(*_: Any, **__: Any) -> Any:
        raise serving.HttpApiError(status, body)

    monkeypatch.setattr(serving, "post_json", refuse)
    target = SimpleNamespace(env="dev", outputs={"HttpApiUrl": "https://api.example"})
    monkeypatch.setattr(cli, "_target", lambda args: target)
    # WHEN an alias is set THEN the command exits 2 with the refusal on one line, no traceback
    code = main(["aliases", "set", "churn", "staging", "9", "--reason", "try", "--env", "dev"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2 and said in out and "Traceback" not in out
