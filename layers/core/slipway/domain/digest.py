"""SHA-256: what names dataset versions and artifacts, and the one check that refuses bytes
which do not hash to the value recorded for them."""

from __future__ import annotations

import hashlib

from slipway.errors import ArtifactIntegrityError

__all__ = ["sha256_hex", "verify_sha256"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_sha256(data: bytes, expected: str, what: str) -> bytes:
    """``data`` unchanged if it hashes to ``expected``; ArtifactIntegrityError naming ``what`` otherwise."""
    actual = sha256_hex(data)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{what} has SHA-256 {actual[:12]}…, the registry recorded {expected[:12]}…",
            {"what": what, "expected": expected, "actual": actual},
        )
    return data
