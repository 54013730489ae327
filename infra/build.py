"""`make build`: `sam build` of every zip function of infra/template.yaml (one at a time, so a machine
without Docker builds them all) and `docker build` of the science image where a Docker engine runs (the image
functions are SkipBuild: one image for all of them, pushed once and deployed by its digest, docs/deploying.md);
then each zip function's unzipped size (its code and its layers) against Lambda's 250 MB limit, as a table. Exit 1 when
one is over. Run with the project's venv (samtranslator parses the template); SAM from ``--sam``."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "template.yaml"
LIMIT_MB = 250.0


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def functions(template: dict) -> tuple[list[str], list[str], dict[str, list[str]]]:  # type: ignore[type-arg]
    """(zip functions, image functions, the layers each zip function uses), by logical id."""
    resources = template["Resources"]
    zips, images, layers = [], [], {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        if props.get("PackageType") == "Image":
            images.append(name)
            continue
        zips.append(name)
        layers[name] = [ref["Ref"] for ref in props.get("Layers", []) if isinstance(ref, dict) and "Ref" in ref]
    return zips, images, layers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"))
    parser.add_argument("--build-dir", default=str(ROOT / ".aws-sam" / "build"))
    args = parser.parse_args(argv)
    zips, images, layers = functions(yaml_parse(TEMPLATE.read_text()))
    build_dir = Path(args.build_dir)
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    cache = ["--cached", "--cache-dir", str(build_dir.parent / "cache")]
    docker = (
        shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )
    where: dict[str, Path] = {}
    if docker:  # the deployable build: the zip functions and layers into .aws-sam/build, the science image once
        print("sam build (zip functions and layers; the image functions are SkipBuild)", flush=True)
        subprocess.run(
            [args.sam, "build", "--template", str(TEMPLATE), "--build-dir", str(build_dir), *cache], check=True, env=env
        )
        where = {name: build_dir for name in zips}
        print(f"docker build of the science image ({', '.join(images)}): push it, deploy its digest", flush=True)
        subprocess.run(["docker", "build", "-f", "layers/science/Dockerfile", "-t", "slipway-science", "."], cwd=ROOT,
                       check=True)  # fmt: skip
    else:  # `sam build X` empties its build dir: each zip function in a dir of its own, for its size only
        print(
            f"no Docker engine ({', '.join(images)} run the workflow's science image; make check lints its Dockerfile);"
        )
        print("each zip function is built on its own for its size (not a deployable build)", flush=True)
        for name in zips:
            print(f"sam build {name}", flush=True)
            own = build_dir.parent / "functions" / name
            command = [args.sam, "build", name, "--template", str(TEMPLATE), "--build-dir", str(own), *cache]
            subprocess.run(command, check=True, env=env, capture_output=True)
            where[name] = own
    rows, over = [], False
    for name in zips:
        built = where[name]
        if not (built / name).is_dir():
            raise SystemExit(f"sam build left no {built / name}")
        code = _size_mb(built / name)
        used = {layer: _size_mb(built / layer) for layer in layers[name]}
        total = code + sum(used.values())
        over |= total > LIMIT_MB
        rows.append((name, code, ", ".join(f"{k} {v:.1f}" for k, v in used.items()), total))
    print(f"\n{'function':<28} {'code MB':>8}  {'layers MB':<34} {'unzipped MB':>11}  limit {LIMIT_MB:.0f} MB")
    for name, code, used_text, total in sorted(rows, key=lambda r: -r[3]):
        flag = "OVER" if total > LIMIT_MB else "ok"
        print(f"{name:<28} {code:>8.2f}  {used_text:<34} {total:>11.1f}  {flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
