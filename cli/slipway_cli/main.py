"""The `slipway` command: operator commands against an environment (a real account through a
profile, or the local server's written profiles), sample data, and `demo` and `local up` for the
local cloud, which need the `local` extra."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from slipway.errors import SlipwayError

console = Console()

# What only the `local` extra brings; the local subcommands import it lazily, nothing else may.
LOCAL_ONLY = frozenset({"slipway_local", "moto", "samtranslator"})


def _target_args(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    parser.add_argument(
        "--env", default="dev", choices=["dev", "staging", "prod"], help="environment (stack slipway-ENV)"
    )
    parser.add_argument(
        "--profile",
        help="AWS profile (default: the environment's name, as `local up` writes; '' for the default credential chain)",
    )
    parser.add_argument("--endpoint-url", help="override the AWS endpoint (the profile's endpoint_url otherwise)")
    parser.add_argument("--region", help="AWS region (the profile's otherwise)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _target(args: argparse.Namespace) -> Any:
    from slipway_cli.target import target_for

    # `--profile ""`: the default credential chain (CI's role credentials in the environment)
    profile = args.env if args.profile is None else (args.profile or None)
    return target_for(args.env, profile, args.endpoint_url, args.region)


def _emit(args: argparse.Namespace, value: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(value, indent=2, default=str))
    else:
        console.print(text)


def cmd_spec_push(args: argparse.Namespace) -> int:
    from slipway.spec import load_spec
    from slipway_cli.serving import push_spec
    from slipway_cli.specs import summary

    text = Path(args.file).read_text()
    spec = load_spec(text)  # a bad spec is refused here, naming its fields, before any AWS call
    result = push_spec(_target(args), text, reason=args.reason or "")
    if result["previous"] == result["version"]:
        change = "it already was"
    else:
        stored = "new" if result["new"] else "pushed before"
        change = f"{stored}; was {result['previous'][:12]}" if result["previous"] else f"{stored}; the first"
    head = (
        f"spec [bold]{escape(result['model'])}[/]: version {result['version'][:12]} is now current ({change})"
        f" → {escape(result['uri'])}"
    )
    if result["drift_schedule"]:
        head += f"\ndrift checks scheduled: {escape(result['drift_schedule'])}"
    value, lines = summary(spec)
    _emit(args, {**result, "current": result["version"], "spec": value}, "\n".join([head, *lines]))
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from slipway_cli import features

    target = _target(args)
    command = args.features_command
    if command == "push":
        return _show(args, features.push(target, Path(args.file).read_text(), args.reason or ""))
    if command == "list":
        return _show(args, features.views_list(target))
    if command == "show":
        return _show(args, features.view_show(target, args.view))
    if command == "get":
        return _show(args, features.get(target, args.view, args.entity))
    with console.status(f"materialising {args.file} into view {args.view}…") as status:
        value, renderable = features.materialise(target, args.view, args.file, status)
    _show(args, (value, renderable))
    return 0 if value.get("status") == "SUCCEEDED" else 1


def cmd_spec_check(args: argparse.Namespace) -> int:
    from slipway.spec import load_spec, spec_version
    from slipway_cli.specs import summary

    spec = load_spec(Path(args.file).read_text())  # SpecError: every field at fault, exit 2
    value, lines = summary(spec)
    version = spec_version(spec)
    head = f"spec [bold]{escape(spec.name)}[/] is valid: version {version[:12]} (not pushed)"
    _emit(args, {"model": spec.name, "version": version, "spec": value}, "\n".join([head, *lines]))
    return 0


def cmd_spec_schema(args: argparse.Namespace) -> int:
    from slipway.spec.reference import schema_text

    print(schema_text(), end="")
    return 0


def _folded(renderable: Any) -> Any:
    """Every table's cells fold onto more lines instead of ending in "…" when the terminal is narrow."""
    if isinstance(renderable, Table):
        for column in renderable.columns:
            column.overflow = "fold"
    elif isinstance(renderable, Group):
        for part in renderable.renderables:
            _folded(part)
    return renderable


def _show(args: argparse.Namespace, result: tuple[Any, Any]) -> int:
    value, renderable = result
    if args.json:
        print(json.dumps(value, indent=2, default=str))
    else:
        console.print(_folded(renderable))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from slipway_cli import commands

    deps = _target(args).deps
    run = [a for a in args.run if a != "show"]
    if run:
        return _show(args, commands.runs_show(deps, run[0]))
    return _show(args, commands.runs_list(deps, args.model))


def cmd_models(args: argparse.Namespace) -> int:
    from slipway_cli import commands

    deps = _target(args).deps
    if args.action == "list":
        return _show(args, commands.models_list(deps))
    if not args.ref:
        raise SystemExit("slipway models show needs MODEL[@VERSION|@ALIAS]")
    return _show(args, commands.models_show(deps, args.ref))


def cmd_lineage(args: argparse.Namespace) -> int:
    from slipway_cli import commands

    deps = _target(args).deps
    if args.source:
        return _show(args, commands.lineage_from(deps, args.source))
    if not args.ref:
        raise SystemExit("slipway lineage needs MODEL@VERSION or --from s3://bucket/key")
    return _show(args, commands.lineage_of(deps, args.ref))


def cmd_reproduce(args: argparse.Namespace) -> int:
    from slipway_cli import commands

    target = _target(args)
    with console.status(f"retraining {args.ref} from its recorded lineage…"):
        value, renderable = commands.reproduce_model(target.deps, args.ref)
    _show(args, (value, renderable))
    if args.record:  # what was found, kept in the environment in the caller's name (on stderr: --json stays JSON)
        from slipway_cli import reproducing

        try:
            kept = reproducing.record(target, value)
            note = f"recorded in {target.env} at {kept['at']} as {kept['principal']}"
        except (SlipwayError, LookupError, BotoCoreError, ClientError) as e:
            note = f"not recorded in {target.env}: {getattr(e, 'message', None) or e}"
        Console(stderr=True).print(note, highlight=False, markup=False)
    return 0 if value["reproduced"] else 1


def cmd_aliases(args: argparse.Namespace) -> int:
    from slipway_cli import serving

    target = _target(args)
    if args.action == "show":
        return _show(args, serving.aliases_show(target, args.model))
    if args.action == "set":
        if args.alias is None or args.version is None or not args.reason:
            raise SystemExit("slipway aliases set needs MODEL ALIAS VERSION --reason TEXT")
        moved = serving.aliases_set(
            target,
            args.model,
            args.alias,
            args.version,
            reason=args.reason,
            weight=args.weight,
            expect_previous=args.expect_previous,
        )
        share = f" at {moved['weight']:.0%}" if moved.get("weight") is not None else ""
        _emit(args, moved, f"{args.model}@{args.alias} → version {moved['version']}{share} (by {moved['updated_by']})")
        return 0
    if args.alias is None or not args.reason:
        raise SystemExit("slipway aliases clear needs MODEL ALIAS --reason TEXT")
    serving.aliases_clear(target, args.model, args.alias, reason=args.reason)
    _emit(args, {"model": args.model, "alias": args.alias, "cleared": True}, f"{args.model}@{args.alias} cleared")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from slipway_cli import promotion

    target = _target_in(args, args.to)
    run = promotion.start(target, args.ref, args.source, args.reason or "")
    started = {"promotion": run.name, "execution_arn": run.arn, "from": args.source, "to": args.to, "ref": args.ref}
    if not args.wait:
        _emit(args, started, f"promotion [bold]{run.name}[/] of {escape(args.ref)}: {args.source} → {args.to} started")
        return 0
    return _follow_promotion(args, run)


def _follow_promotion(args: argparse.Namespace, run: Any, *, stop_when_waiting: bool = True) -> int:
    from slipway_cli import promotion

    if args.json:
        described, record = promotion.follow(run, stop_when_waiting=stop_when_waiting)
    else:
        with console.status(f"{run.name}…") as status:

            def show(record: dict[str, Any]) -> None:
                status.update(f"{run.name}: {record.get('status', 'RUNNING')} at {record.get('step', 'Begin')}…")

            described, record = promotion.follow(run, stop_when_waiting=stop_when_waiting, on_progress=show)
    from slipway_cli.commands import public

    value = {"promotion": run.name, "execution": described["status"], **public(record)}
    if record.get("status") == "WAITING_FOR_APPROVAL":
        _emit(args, value, f"{run.name} waits for {escape(str(record.get('waiting_for')))}")
        return 0
    if described["status"] == "SUCCEEDED":
        _emit(
            args,
            value,
            f"{run.name}: {escape(str(record.get('model')))} v{record.get('target_version')} is production in "
            f"{escape(str(record.get('target_env')))} (from {escape(str(record.get('source_env')))} "
            f"v{record.get('source_version')})",
        )
        return 0
    reasons = record.get("canary_reasons") or [record.get("cause") or described.get("cause") or ""]
    _emit(
        args,
        value,
        f"[red]{run.name} {record.get('status', described['status'])}[/] ({described.get('error')}): "
        + escape("; ".join(str(r) for r in reasons)),
    )
    return 1


def cmd_answer(args: argparse.Namespace) -> int:
    from slipway_cli import promotion

    target = _target(args)
    approve = args.command == "approve"
    answered = promotion.answer(target, args.model, approve, args.reason)
    verb = "approved" if approve else "rejected"
    said = f"promotion {answered['promotion']} of {escape(args.model)} v{answered['version']} into {target.env} {verb}"
    if approve and args.wait:
        if not args.json:
            console.print(said)
        started = promotion.Started(target, answered["promotion"], answered["execution_arn"])
        return _follow_promotion(args, started, stop_when_waiting=False)  # the record may still say it waits
    _emit(args, answered, said)
    return 0


def cmd_promotions(args: argparse.Namespace) -> int:
    from slipway_cli import promotion
    from slipway_cli.target import target_for

    envs = [args.env] if args.env else list(promotion.SOURCE_OF)
    targets = [target_for(env, args.profile or env, args.endpoint_url, args.region) for env in envs]
    return _show(args, promotion.promotions_view(targets, args.model))


def cmd_rollback(args: argparse.Namespace) -> int:
    from slipway_cli import promotion

    target = _target(args)
    moved = promotion.rollback(target, args.model, args.reason)
    _emit(
        args, moved, f"{args.model}@production in {target.env}: {moved['from']} → {moved['to']} ({escape(args.reason)})"
    )
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    import subprocess

    from slipway_cli.deploy import deploy_command, shown

    if not args.image_digest and not args.dry_run:
        console.print(
            "[red]--image-digest is required: the science image's digest (ScienceImageDigest) the workflow pushed[/]"
        )
        return 2
    command = deploy_command(
        args.env,
        Path(args.config),
        profile=args.profile,
        region=args.region,
        image_digest=args.image_digest,
        parameters=tuple(args.parameter),
    )
    console.print(f"[dim]{escape(shown(command))}[/]")
    if args.dry_run:
        return 0
    return subprocess.run(command, check=False).returncode


def cmd_audit(args: argparse.Namespace) -> int:
    from slipway_cli.commands import audit_view

    return _show(args, audit_view(_target(args), args.model))


def _target_in(args: argparse.Namespace, env: str) -> Any:
    from slipway_cli.target import target_for

    return target_for(env, args.profile or env, args.endpoint_url, args.region)


def cmd_predict(args: argparse.Namespace) -> int:
    from slipway_cli import serving

    rows = serving.read_rows(args.json_rows, args.file)
    try:
        return _show(args, serving.predict(_target(args), args.model, rows, args.api_url, explain=args.explain))
    except serving.HttpApiError as e:
        console.print(
            f"[red]HTTP {e.status}[/]: {escape(str(e.body.get('message') if isinstance(e.body, dict) else e.body))}"
        )
        for error in e.body.get("errors", []) if isinstance(e.body, dict) else []:
            where = f"row {error['row']} " if "row" in error else ""
            console.print(f"  {where}{error.get('field')}: {error.get('check')}: {escape(str(error.get('message')))}")
        return 2


def cmd_score(args: argparse.Namespace) -> int:
    from slipway_cli import scoring

    scoring.check_input(args.input)
    run = scoring.start(_target(args), args.ref, args.input)
    if not args.wait:
        started = {"run_id": run.name, "execution_arn": run.arn, "status": "RUNNING"}
        _emit(args, started, f"scoring {escape(args.input)} with {escape(args.ref)}: run [bold]{run.name}[/] started")
        return 0
    if args.json:
        described = scoring.follow(run)
    else:
        with console.status(f"scoring {escape(args.input)} with {escape(args.ref)} ({run.name})…") as status:

            def show(progress: dict[str, int]) -> None:
                scored, failed = progress.get("SCORED", 0), progress.get("REJECTED", 0) + progress.get("FAILED", 0)
                status.update(f"{run.name}: {scored} parts scored ({progress['rows']:,} rows), {failed} failed…")

            described = scoring.follow(run, show)
    _show(args, scoring.result_view(run, described))
    return 0 if described["status"] == "SUCCEEDED" else 1


def _without_local_extra(command: str, error: ModuleNotFoundError) -> int:
    """One line on what to install when the local cloud is missing; other import errors propagate."""
    if (error.name or "").split(".")[0] not in LOCAL_ONLY:
        raise error
    print(
        f"slipway {command} needs the local cloud: pip install 'slipway[local]' (missing module: {error.name})",
        file=sys.stderr,
    )
    return 2


def cmd_local_up(args: argparse.Namespace) -> int:
    try:
        from slipway_local.server import serve
    except ModuleNotFoundError as e:
        return _without_local_extra("local up", e)
    return serve(console, args.port, Path(args.dir), rehearse=not args.fast)


UI_ONLY = frozenset({"starlette", "uvicorn", "jinja2", "multipart", "python_multipart", "plotly"})


def cmd_ui(args: argparse.Namespace) -> int:
    """The console on 127.0.0.1, over each environment asked for, as that environment's profile."""
    try:
        from slipway_cli.console import serve
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in UI_ONLY:
            raise
        print(f"slipway ui needs the console's libraries: pip install 'slipway[ui]' (missing module: {e.name})",
              file=sys.stderr)  # fmt: skip
        return 2
    from slipway_cli.target import target_for

    envs = list(dict.fromkeys(args.env or ["dev", "staging", "prod"]))
    targets = {}
    for env in envs:
        profile = env if args.profile is None else (args.profile or None)
        try:
            targets[env] = target_for(env, profile, args.endpoint_url, args.region)
        except (BotoCoreError, ClientError) as e:  # no such profile, no stack: the others are still shown
            console.print(f"[yellow]{env} left out[/]: {type(e).__name__}: {escape(str(e))}")
    if not targets:
        console.print("[red]no environment could be reached[/]: name one with --env and its --profile")
        return 2
    shown = ", ".join(targets)
    console.print(f"slipway console on [bold]http://127.0.0.1:{args.port}/[/] ({shown}); Ctrl-C stops it")
    serve(targets, args.port)
    return 0


def cmd_local_tick(args: argparse.Namespace) -> int:
    """Fire the environment's schedule rules now (one by name, or all), as EventBridge would at their time."""
    try:
        from slipway_local.schedules import fire, schedule_rules
    except ModuleNotFoundError as e:
        return _without_local_extra("local tick", e)
    target = _target(args)
    names = [args.rule] if args.rule else [r["Name"] for r in schedule_rules(target.client("events"))]
    fired = {name: fire(target.client, name) for name in names}
    _emit(
        args, fired, "\n".join(f"{n}: {', '.join(s) or 'no target'}" for n, s in fired.items()) or "no schedule rules"
    )
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from slipway_cli import drift

    words = list(args.words)
    action = words.pop(0) if len(words) == 2 and words[0] in ("history", "report") else "check"
    if len(words) != 1:
        raise SystemExit("usage: slipway drift MODEL | drift history MODEL | drift report MODEL")
    model, target = words[0], _target(args)
    if action == "history":
        return _show(args, drift.history(target, model, args.limit))
    if action == "report":
        saved = drift.report(target, model, args.check, Path(args.out), args.open)
        _emit(args, saved, f"drift report of {model} ({saved['check_id']}, {saved['at']}) saved to {saved['path']}")
        return 0
    with console.status(f"checking {model} in {target.env} for drift…"):
        result = drift.check(target, model, args.window)
    return _show(args, result)


def cmd_experiments(args: argparse.Namespace) -> int:
    from slipway_cli import experiments

    target = _target(args)
    if args.action == "list":
        return _show(args, experiments.listing(target, args.model))
    with console.status(f"reading {args.model}'s experiment in {target.env}…"):
        found = experiments.show(target, args.model, args.number, Path(args.html) if args.html else None)
    return _show(args, found)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from slipway_cli.demo import run_demo
    except ModuleNotFoundError as e:
        return _without_local_extra("demo", e)
    interactive = sys.stdout.isatty() and sys.stdin.isatty()
    port = args.ui_port if (args.ui if args.ui is not None else interactive) else None
    return run_demo(console, rows=args.rows, out_dir=Path(args.out), ui_port=port)


def _table_file(value: str) -> Path:
    if Path(value).suffix.lower() not in (".csv", ".parquet"):
        raise argparse.ArgumentTypeError(f"{value}: write FILE.csv or FILE.parquet")
    return Path(value)


def cmd_sample(args: argparse.Namespace) -> int:
    from slipway_cli.samples import corrupt, make_churn, write_sample

    least = 21 if args.corrupt else 1  # each fault of the corrupted copy sits on its own rows
    if not least <= args.rows < 1_000_000:
        raise SystemExit(f"slipway sample churn: --rows must be between {least} and 999,999")
    frame = make_churn(n_rows=args.rows, seed=args.seed)
    if args.corrupt:
        frame = corrupt(frame, seed=args.seed)
    path = write_sample(frame, args.out)
    state = "corrupted " if args.corrupt else ""
    console.print(f"{len(frame):,} {state}churn rows × {frame.shape[1]} columns (seed {args.seed}) → {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slipway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the whole loop on embedded sample data, in the local cloud (local extra)")
    demo.add_argument("--rows", type=int, default=12_000, help="rows of sample data")
    demo.add_argument("--out", default="out/demo", help="where to save reports (git-ignored)")
    demo.add_argument(
        "--ui",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="end by serving the web console over the demo's accounts until Ctrl-C (default: on a terminal)",
    )
    demo.add_argument("--ui-port", type=int, default=8765, help="the console's port on 127.0.0.1")
    demo.set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the local cloud (local extra: pip install 'slipway[local]')")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="serve the local cloud on 127.0.0.1 and write AWS profiles")
    up.add_argument("--port", type=int, default=4566, help="0: a free port (the files and the console name it)")
    up.add_argument("--dir", default=".slipway-local", help="where to write config, credentials and outputs")
    up.add_argument(
        "--fast",
        action="store_true",
        help="create each stack as the account's root instead of rehearsing the user's deploy path (bootstrap "
        "stack, deployment role, slipway deploy through SAM CLI): about 4 s an account instead of 12-15 s",
    )
    up.set_defaults(func=cmd_local_up)
    tick = local_sub.add_parser("tick", help="fire the environment's schedule rules now (one RULE, or all)")
    tick.add_argument("rule", nargs="?", help="a rule's name, e.g. slipway-dev-drift-churn")
    _target_args(tick)
    tick.set_defaults(func=cmd_local_tick)

    ui = sub.add_parser("ui", help="the web console on 127.0.0.1: models, runs, lineage, drift, approvals (ui extra)")
    ui.add_argument(
        "--env",
        action="append",
        choices=["dev", "staging", "prod"],
        help="an environment to show (repeatable; all three by default)",
    )
    ui.add_argument(
        "--profile",
        help="AWS profile for every environment (default: each environment's name, as `local up` writes; '' for the "
        "default credential chain)",
    )
    ui.add_argument("--endpoint-url", help="override the AWS endpoint (the profile's endpoint_url otherwise)")
    ui.add_argument("--region", help="AWS region (the profile's otherwise)")
    ui.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1")
    ui.set_defaults(func=cmd_ui)

    sample = sub.add_parser("sample", help="write sample data, e.g. to upload to a raw bucket")
    sample_sub = sample.add_subparsers(dest="sample_command", required=True)
    churn = sample_sub.add_parser("churn", help="the demo's customer-churn table (specs/churn.yaml)")
    churn.add_argument("--rows", type=int, default=12_000, help="number of customers (1 to 999,999)")
    churn.add_argument("--seed", type=int, default=7, help="same seed and rows, same file")
    churn.add_argument("--corrupt", action="store_true", help="break it the way the demo's quarantined upload is")
    churn.add_argument("--out", required=True, type=_table_file, help="FILE.csv or FILE.parquet")
    churn.set_defaults(func=cmd_sample)

    spec = sub.add_parser("spec", help="model specs")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True)
    push = spec_sub.add_parser("push", help="validate a model spec and store it in the environment")
    push.add_argument("file")
    push.add_argument("--reason", help="why (kept in the audit trail with who pushed it)")
    _target_args(push)
    push.set_defaults(func=cmd_spec_push)
    check = spec_sub.add_parser("check", help="validate a model spec and show what it means, without pushing it")
    check.add_argument("file")
    check.add_argument("--json", action="store_true", help="print machine-readable JSON")
    check.set_defaults(func=cmd_spec_check)
    schema = spec_sub.add_parser("schema", help="print the JSON Schema of model specs (docs/spec.schema.json)")
    schema.set_defaults(func=cmd_spec_schema)

    features = sub.add_parser("features", help="feature views: push, list, show, get an entity's values, materialize")
    features_sub = features.add_subparsers(dest="features_command", required=True)
    fpush = features_sub.add_parser("push", help="validate a feature view's spec and store it in the environment")
    fpush.add_argument("file")
    fpush.add_argument("--reason", help="why (kept in the view's audit trail with who pushed it)")
    flist = features_sub.add_parser("list", help="the feature views here, with their latest versions")
    fshow = features_sub.add_parser("show", help="a view's features and its versions (materialised uploads)")
    fshow.add_argument("view")
    fget = features_sub.add_parser("get", help="entities' online values, as infer fetches them")
    fget.add_argument("view")
    fget.add_argument("entity", nargs="+", help="entity key (several key columns: a JSON list)")
    fmat = features_sub.add_parser("materialize", help="upload a file under views/VIEW/ and follow it to its version")
    fmat.add_argument("view")
    fmat.add_argument("file", type=Path)
    for each in (fpush, flist, fshow, fget, fmat):
        _target_args(each)
        each.set_defaults(func=cmd_features)

    run_parser = sub.add_parser("runs", help="pipeline runs (newest first), or one run with `runs show RUN`")
    run_parser.add_argument(
        "run", nargs="*", metavar="[show] RUN", help="one run in detail: its id (execution name) or a unique prefix"
    )
    run_parser.add_argument("--model", help="only runs of this model")
    _target_args(run_parser)
    run_parser.set_defaults(func=cmd_runs)

    models = sub.add_parser("models", help="the model registry")
    models.add_argument("action", choices=["list", "show"])
    models.add_argument(
        "ref", nargs="?", help="MODEL, MODEL@VERSION, MODEL@ALIAS or MODEL@champion (production, else candidate)"
    )
    _target_args(models)
    models.set_defaults(func=cmd_models)

    lineage = sub.add_parser("lineage", help="what made a model version, or which models an upload fed")
    lineage.add_argument("ref", nargs="?", help="MODEL@VERSION (upstream lineage)")
    lineage.add_argument("--from", dest="source", help="s3://bucket/key of an upload (downstream models)")
    _target_args(lineage)
    lineage.set_defaults(func=cmd_lineage)

    aliases = sub.add_parser("aliases", help="a model's aliases and their history; move or clear one")
    aliases.add_argument("action", choices=["show", "set", "clear"])
    aliases.add_argument("model")
    aliases.add_argument("alias", nargs="?", choices=["candidate", "staging", "production", "challenger"])
    aliases.add_argument("version", nargs="?", type=int)
    aliases.add_argument("--weight", type=float, help="the challenger's share of traffic, 0 < W < 1")
    aliases.add_argument("--reason", help="why (kept in the alias history)")
    aliases.add_argument("--expect-previous", help="move only if the alias now points at this version ('none': unset)")
    _target_args(aliases)
    aliases.set_defaults(func=cmd_aliases)

    predict = sub.add_parser("predict", help="predict through the environment's HTTP API")
    predict.add_argument("model")
    predict.add_argument("--json", dest="json_rows", metavar="JSON", help="one row (object) or a list of rows")
    predict.add_argument("--file", help="rows as JSON Lines")
    predict.add_argument("--api-url", help="the API's base URL (the stack's HttpApiUrl output otherwise)")
    predict.add_argument("--raw", dest="json", action="store_true", help="print the API's JSON answer")
    predict.add_argument(
        "--explain", action="store_true", help="also ask why: each row's base value and per-feature contributions"
    )
    _target_args(predict, json_output=False)
    predict.set_defaults(func=cmd_predict)

    score = sub.add_parser("score", help="batch-score a prefix of Parquet parts (the batch_inference machine)")
    score.add_argument("ref", help="MODEL (latest version), MODEL@VERSION or MODEL@ALIAS")
    score.add_argument("input", help="s3://bucket/prefix/ of Parquet (or CSV) parts, in the raw or lake bucket")
    score.add_argument("--wait", action="store_true", help="follow the run to its end (exit 1 if it failed)")
    _target_args(score)
    score.set_defaults(func=cmd_score)

    drift = sub.add_parser("drift", help="check a model for drift now, list its checks, or fetch a check's report")
    drift.add_argument("words", nargs="+", metavar="[history|report] MODEL")
    drift.add_argument("--window", help="the captures to read: the last 90s / 15m / 24h / 7d (the spec's otherwise)")
    drift.add_argument("--limit", type=int, default=20, help="history: how many checks")
    drift.add_argument("--check", help="report: this check (its id) instead of the latest")
    drift.add_argument("--out", default="out/drift", help="report: where to save the HTML")
    drift.add_argument("--open", action="store_true", help="report: open it in the browser")
    _target_args(drift)
    drift.set_defaults(func=cmd_drift)

    experiments = sub.add_parser(
        "experiments", help="a model's A/B experiments (challenger splits), and one's statistics and verdict"
    )
    experiments.add_argument("action", choices=["list", "show"])
    experiments.add_argument("model")
    experiments.add_argument("--number", type=int, help="show: this experiment (1 is the first) instead of the latest")
    experiments.add_argument("--html", metavar="FILE", help="show: also write the self-contained HTML report here")
    _target_args(experiments)
    experiments.set_defaults(func=cmd_experiments)

    promote = sub.add_parser(
        "promote", help="promote a version into staging (from dev) or prod (from staging), or release it in dev"
    )
    promote.add_argument("ref", help="MODEL@VERSION or MODEL@ALIAS in the source environment")
    promote.add_argument("--from", dest="source", required=True, choices=["dev", "staging"])
    promote.add_argument("--to", required=True, choices=["dev", "staging", "prod"])
    promote.add_argument("--reason", help="why (kept with the promotion and its alias moves)")
    promote.add_argument("--wait", action="store_true", help="follow it until it ends or waits for approval")
    promote.add_argument("--profile", help="AWS profile of the target (default: the target's name)")
    promote.add_argument("--endpoint-url", help="override the AWS endpoint")
    promote.add_argument("--region", help="AWS region (the profile's otherwise)")
    promote.add_argument("--json", action="store_true", help="print machine-readable JSON")
    promote.set_defaults(func=cmd_promote)

    for verb, what in (("approve", "let it go on"), ("reject", "end it, changing nothing")):
        answer = sub.add_parser(verb, help=f"answer the promotion waiting for approval in an environment: {what}")
        answer.add_argument("model")
        answer.add_argument("--reason", required=True, help="why (kept with the approval)")
        if verb == "approve":
            answer.add_argument("--wait", action="store_true", help="then follow the promotion to its end")
        _target_args(answer)
        answer.set_defaults(func=cmd_answer)

    promotions = sub.add_parser("promotions", help="promotions, newest first: status, step, what they wait for")
    promotions.add_argument("--model", help="only this model's")
    promotions.add_argument("--env", choices=["staging", "prod"], help="one target environment (both otherwise)")
    promotions.add_argument("--profile", help="AWS profile (default: each environment's name)")
    promotions.add_argument("--endpoint-url", help="override the AWS endpoint")
    promotions.add_argument("--region", help="AWS region (the profile's otherwise)")
    promotions.add_argument("--json", action="store_true", help="print machine-readable JSON")
    promotions.set_defaults(func=cmd_promotions)

    rollback = sub.add_parser("rollback", help="production back to the version before its last move (recorded)")
    rollback.add_argument("model")
    rollback.add_argument("--reason", required=True, help="why (kept in the alias history)")
    _target_args(rollback)
    rollback.set_defaults(func=cmd_rollback)

    deploy = sub.add_parser(
        "deploy", help="sam deploy of the environment stack with its config-env of infra/samconfig.toml"
    )
    deploy.add_argument("--env", required=True, choices=["dev", "staging", "prod"])
    deploy.add_argument("--profile", help="AWS profile (the config-env's otherwise)")
    deploy.add_argument("--region", help="AWS region (the config-env's otherwise)")
    deploy.add_argument("--config", default="infra/samconfig.toml", help="the SAM config file")
    deploy.add_argument(
        "--image-digest",
        help="the science image's digest (sha256:…) in the account's slipway-ENV-science repository: the image built "
        "and pushed once, the same in every account (the stack's ScienceImageDigest)",
    )
    deploy.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another parameter override after the config's (e.g. LogLevel=DEBUG); repeatable",
    )
    deploy.add_argument("--dry-run", action="store_true", help="print the sam command (salt masked), run nothing")
    deploy.set_defaults(func=cmd_deploy)

    audit = sub.add_parser(
        "audit", help="who pushed specs, answered approvals, moved aliases and rolled back a model, when and why"
    )
    audit.add_argument("model")
    _target_args(audit)
    audit.set_defaults(func=cmd_audit)

    reproduce = sub.add_parser(
        "reproduce", help="retrain a version from its lineage; exit 1 unless the metrics match (within the tolerance)"
    )
    reproduce.add_argument("ref", help="MODEL@VERSION")
    reproduce.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="do not record the result in the environment (recorded by default, in your name, for the console)",
    )
    _target_args(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SlipwayError as e:
        errors = e.details.get("errors") or []
        if errors:  # the message summarises these findings: print its headline, then each finding once
            headline = e.message.partition(": ")[0]
            console.print(f"[red]{type(e).__name__}[/]: {escape(headline)} ({len(errors)} found):")
            for error in errors:
                console.print(f"  {escape(str(error.get('field')))}: {escape(str(error.get('message')))}")
        else:
            console.print(f"[red]{type(e).__name__}[/]: {escape(e.message)}")
        return 2
    except LookupError as e:
        console.print(f"[red]not found[/]: {escape(str(e))}")
        return 2
    except (BotoCoreError, ClientError) as e:  # no profile or credentials, no stack, access denied: one line
        console.print(f"[red]{type(e).__name__}[/]: {escape(str(e))}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
