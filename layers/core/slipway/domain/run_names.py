"""The name of the run an uploaded object starts: derived from the object's identity (bucket, key,
version id), so every event about one object version names the same Step Functions execution and
Step Functions itself refuses the duplicates (at-least-once delivery, multipart uploads)."""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_RUN_NAME", "run_name_for_object", "run_name_for_retraining"]

MAX_RUN_NAME = 80  # Step Functions execution names: 1-80 characters
_HASH_CHARS = 24  # 96 bits of SHA-256: collisions between distinct objects are not a concern
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # execution names refuse whitespace, brackets, wildcards, / : # % …
_SUFFIXES = re.compile(r"(\.(csv|parquet|pq|gz|tsv|txt|json))+$", re.IGNORECASE)


def run_name_for_object(bucket: str, key: str, version_id: str | None, etag: str | None = None) -> str:
    """``<readable part of the key>-<24 hex of SHA-256(bucket, key, version)>``, at most 80 characters.

    The readable part (model folder and file stem, unsafe characters as ``-``) is for people; the
    hash makes the name unique per object version. Without a version id (an unversioned bucket)
    the ETag stands in for it, so that a rewrite of the key with other bytes is another run.
    """
    identity = "\0".join((bucket, key, version_id or f"etag:{etag or ''}"))
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    model, _, file_name = key.rpartition("/")
    stem = _SUFFIXES.sub("", file_name) or file_name
    readable = _UNSAFE.sub("-", f"{model.split('/')[0]}-{stem}" if model else stem).strip("-_")
    room = MAX_RUN_NAME - _HASH_CHARS - 1
    readable = readable[:room].rstrip("-_")
    return f"{readable}-{digest}" if readable else digest


def run_name_for_retraining(model: str, check_id: str) -> str:
    """``retrain-<model>-<24 hex of SHA-256(model, check id)>``: one run per drift check that asked for it."""
    digest = hashlib.sha256(f"{model}\0{check_id}".encode()).hexdigest()[:_HASH_CHARS]
    readable = _UNSAFE.sub("-", f"retrain-{model}")[: MAX_RUN_NAME - _HASH_CHARS - 1].rstrip("-_")
    return f"{readable}-{digest}"
