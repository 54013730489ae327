"""The science image as the local cloud knows it: no Docker here, so what it pushes to an account's ECR
repository is an image manifest naming the checkout's content (the Dockerfile, its requirements, the core
package and the functions), not a runnable image. Its digest is the SHA-256 of the manifest's bytes, as a
registry computes it, so the same checkout gives the same digest in every account: the one digest that moves
dev -> staging -> prod as the template's ``ScienceImageDigest``. The image functions still run from the
checkout (the local runtime takes each handler from ``ImageConfig.Command``)."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from slipway_local.packaging import REPO_ROOT

__all__ = ["MEDIA_TYPE", "ScienceImage", "push", "science_image"]

MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# What the Dockerfile copies into the image, in its order (layers/science/Dockerfile).
_CONTENT = ("layers/science", "layers/core/slipway", "functions")


class ScienceImage:
    """One manifest and its digest (``sha256:<hex>``)."""

    def __init__(self, manifest: str) -> None:
        self.manifest = manifest
        self.digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()

    def uri(self, account_id: str, region: str, repository: str) -> str:
        return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{repository}@{self.digest}"


def _tree_digest(root: Path) -> tuple[str, int]:
    """A digest of a directory's files (paths and bytes, sorted; caches left out) and their size."""
    digest, size = hashlib.sha256(), 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        data = path.read_bytes()
        digest.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
        size += len(data)
    return "sha256:" + digest.hexdigest(), size


@functools.cache
def science_image(root: Path = REPO_ROOT) -> ScienceImage:
    """The checkout's science image manifest (computed once per process: the checkout does not change under a
    running cloud)."""
    layers = []
    for relative in _CONTENT:
        digest, size = _tree_digest(root / relative)
        layers.append({"mediaType": _LAYER_TYPE, "size": size, "digest": digest})
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": [x["digest"] for x in layers]}})
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config.encode()).hexdigest(),
        },
        "layers": layers,
    }
    return ScienceImage(json.dumps(manifest, sort_keys=True, separators=(",", ":")))


def push(ecr: Any, repository: str, image: ScienceImage, tag: str) -> str:
    """Put the manifest into the repository under its digest (``docker push`` of an image already built), with
    ``tag``; an image already there by digest is left as it is (an immutable repository refuses a second tag
    push). Returns the digest."""
    found = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": image.digest}])["images"]
    if not found:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image.manifest,
            imageManifestMediaType=MEDIA_TYPE,
            imageTag=tag,
            imageDigest=image.digest,
        )
    return image.digest
