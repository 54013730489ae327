"""The `slipway` command: operator commands against an environment (real AWS through a profile,
or the local server's written profiles) plus `demo` and `local up` for the local cloud."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from slipway.errors import SlipwayError

console = Console()


def _target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default="dev", choices=["dev", "staging", "prod"], help="environment (stack slipway-ENV)"
    )
    parser.add_argument("--profile", help="AWS profile (default: the environment's name, as `local up` writes)")
    parser.add_argument("--endpoint-url", help="override the AWS endpoint (the profile's endpoint_url otherwise)")
    parser.add_argument("--region", help="AWS region (the profile's otherwise)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _target(args: argparse.Namespace) -> Any:
    from slipway_local.target import target_for

    return target_for(args.env, args.profile or args.env, args.endpoint_url, args.region)


def _emit(args: argparse.Namespace, value: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(value, indent=2, default=str))
    else:
        console.print(text)


def cmd_spec_push(args: argparse.Namespace) -> int:
    from slipway.spec import load_spec
    from slipway.steps.specs import push_spec

    text = Path(args.file).read_text()
    load_spec(text)  # a bad spec is refused here, naming its fields, before any AWS call
    result = push_spec(_target(args).container, text)
    state = "pushed" if result["new"] else "unchanged (already pushed)"
    _emit(args, result, f"spec [bold]{result['model']}[/] {state}: version {result['version'][:12]} → {result['uri']}")
    return 0


def _show(args: argparse.Namespace, result: tuple[Any, Any]) -> int:
    value, renderable = result
    if args.json:
        print(json.dumps(value, indent=2, default=str))
    else:
        console.print(renderable)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from slipway_local import commands

    c = _target(args).container
    run = [a for a in args.run if a != "show"]
    if run:
        return _show(args, commands.runs_show(c, run[0]))
    return _show(args, commands.runs_list(c, args.model))


def cmd_models(args: argparse.Namespace) -> int:
    from slipway_local import commands

    c = _target(args).container
    if args.action == "list":
        return _show(args, commands.models_list(c))
    if not args.ref:
        raise SystemExit("slipway models show needs MODEL[@VERSION|@ALIAS]")
    return _show(args, commands.models_show(c, args.ref))


def cmd_lineage(args: argparse.Namespace) -> int:
    from slipway_local import commands

    c = _target(args).container
    if args.source:
        return _show(args, commands.lineage_from(c, args.source))
    if not args.ref:
        raise SystemExit("slipway lineage needs MODEL@VERSION or --from s3://bucket/key")
    return _show(args, commands.lineage_of(c, args.ref))


def cmd_reproduce(args: argparse.Namespace) -> int:
    from slipway_local import commands

    c = _target(args).container
    with console.status(f"retraining {args.ref} from its recorded lineage…"):
        value, renderable = commands.reproduce_model(c, args.ref)
    _show(args, (value, renderable))
    return 0 if value["identical"] else 1


def cmd_local_up(args: argparse.Namespace) -> int:
    from slipway_local.server import start_server, write_files

    with console.status(f"starting the local cloud on 127.0.0.1:{args.port} and deploying dev, staging, prod…"):
        _server, cloud = start_server(args.port)
        files = write_files(cloud, Path(args.dir).resolve())
    console.print(
        f"local cloud up at [bold]{cloud.endpoint_url}[/] (accounts: "
        + ", ".join(f"{e}={env.account_id}" for e, env in cloud.environments.items())
        + ")"
    )
    console.print(f"AWS config:      {files.config}")
    console.print(f"AWS credentials: {files.credentials}")
    console.print(f"stack outputs:   {files.outputs}")
    console.print("use it with:")
    raw = cloud.environments["dev"].outputs["RawBucketName"]
    print(f"  export AWS_CONFIG_FILE={files.config} AWS_SHARED_CREDENTIALS_FILE={files.credentials}")
    print(f"  aws --profile dev s3 cp data.csv s3://{raw}/churn/data.csv")
    console.print("Ctrl-C stops it.", style="dim")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from slipway_local.demo import run_demo

    return run_demo(console, rows=args.rows, out_dir=Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slipway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the whole loop on embedded sample data, in the local cloud")
    demo.add_argument("--rows", type=int, default=12_000, help="rows of sample data")
    demo.add_argument("--out", default="out/demo", help="where to save reports (git-ignored)")
    demo.set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the local cloud")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="serve the local cloud on 127.0.0.1 and write AWS profiles")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--dir", default=".slipway-local", help="where to write config, credentials and outputs")
    up.set_defaults(func=cmd_local_up)

    spec = sub.add_parser("spec", help="model specs")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True)
    push = spec_sub.add_parser("push", help="validate a model spec and store it in the environment")
    push.add_argument("file")
    _target_args(push)
    push.set_defaults(func=cmd_spec_push)

    run_parser = sub.add_parser("runs", help="pipeline runs (newest first), or one run with `runs show RUN`")
    run_parser.add_argument("run", nargs="*", metavar="[show] RUN", help="one run (the execution name) in detail")
    run_parser.add_argument("--model", help="only runs of this model")
    _target_args(run_parser)
    run_parser.set_defaults(func=cmd_runs)

    models = sub.add_parser("models", help="the model registry")
    models.add_argument("action", choices=["list", "show"])
    models.add_argument("ref", nargs="?", help="MODEL, MODEL@VERSION or MODEL@ALIAS")
    _target_args(models)
    models.set_defaults(func=cmd_models)

    lineage = sub.add_parser("lineage", help="what made a model version, or which models an upload fed")
    lineage.add_argument("ref", nargs="?", help="MODEL@VERSION (upstream lineage)")
    lineage.add_argument("--from", dest="source", help="s3://bucket/key of an upload (downstream models)")
    _target_args(lineage)
    lineage.set_defaults(func=cmd_lineage)

    reproduce = sub.add_parser("reproduce", help="retrain a version from its lineage; exit 1 unless metrics match")
    reproduce.add_argument("ref", help="MODEL@VERSION")
    _target_args(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SlipwayError as e:
        console.print(f"[red]{type(e).__name__}[/]: {e.message}")
        for error in e.details.get("errors", []):
            console.print(f"  {error.get('field')}: {error.get('message')}")
        return 2
    except LookupError as e:
        console.print(f"[red]not found[/]: {e}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
