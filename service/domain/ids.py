"""Identifiers, API keys and artifact keys.

Generated ids are ULID-like: a prefix, 10 Crockford base32 characters of
millisecond time, then 16 random ones. They sort by creation time, which makes
"newest first" listings and log reading pleasant, and carry 80 random bits.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

API_KEY_PREFIX = "loopy_"


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_last = [0, 0]  # (millis, random part) of the last id made by this process
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """`prefix_` + 26 sortable characters, e.g. `run_01j9z3k8q4...`.

    Monotonic within a process: ids made in the same millisecond increment the
    random part, so "newest first" is exact even for runs launched in a burst.
    """
    millis = time.time_ns() // 1_000_000
    with _lock:
        if millis <= _last[0]:
            millis, rand = _last[0], (_last[1] + 1) % (1 << 80)
        else:
            rand = secrets.randbits(79)  # headroom for increments within one millisecond
        _last[0], _last[1] = millis, rand
    return f"{prefix}_{_base32(millis, 10)}{_base32(rand, 16)}"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """Keys are stored only as this hash; a stolen database yields no usable key."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def revision_id(source: str) -> str:
    """A revision is content-addressed: the sha256 of its UTF-8 bytes."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


# --- Artifact store layout (shared with the worker) ---------------------------


def harness_key(harness_id: str, file_name: str) -> str:
    """Where a harness file lives in the artifact store (manifest.json included)."""
    return f"harnesses/{harness_id}/{file_name}"


def run_artifact_key(run_id: str, name: str) -> str:
    """Where a run's artifact ("source", "log", "checkpoint", ...) is uploaded."""
    return f"runs/{run_id}/{name}"
