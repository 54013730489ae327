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
    from slipway.steps.specs import push_spec

    result = push_spec(_target(args).container, Path(args.file).read_text())
    state = "pushed" if result["new"] else "unchanged (already pushed)"
    _emit(args, result, f"spec [bold]{result['model']}[/] {state}: version {result['version'][:12]} → {result['uri']}")
    return 0


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


if __name__ == "__main__":
    raise SystemExit(main())
