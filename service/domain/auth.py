"""API keys: who is calling, decided once for every transport.

HTTP sends `Authorization: Bearer <key>`, gRPC the `authorization` metadata with
the same value; both hand the raw value to `Authenticator.authenticate_header`
(in a worker thread: a miss reads the store), so a malformed header, a missing
key and an unknown key give the same error on both.

Successful lookups are cached for `ttl_s`, keyed by the key's hash (no
plaintext key is kept), so hot read paths skip the store. The cache is the
revocation policy: a key removed from the store keeps working for at most
`ttl_s` on every transport. Failures are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from service.domain import ids
from service.domain.errors import Unauthenticated
from service.domain.models import Principal
from service.domain.ports import MetadataStore

# Where a caller puts its key, for the details of an Unauthenticated error.
WHERE_THE_KEY_GOES = {"header": "Authorization: Bearer <key>", "grpc_metadata": "authorization"}


def bearer_key(header: str | None, *, bare_key_ok: bool = False) -> str | None:
    """The key of a `Bearer <key>` header; None when there is no header at all.

    Unauthenticated when a header is there but is not `Bearer <key>` (another scheme,
    or no key after the scheme). In-process callers may pass the key itself
    (`bare_key_ok`): keys have no spaces, so a lone word is a key."""
    if not header or not header.strip():
        return None
    scheme, _, key = header.strip().partition(" ")
    if bare_key_ok and not key and scheme.lower() != "bearer":
        return scheme
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated(
            "the Authorization header (gRPC: authorization metadata) must be `Bearer <api key>`",
            details={**WHERE_THE_KEY_GOES, "scheme": scheme[:20]},
        )
    return key.strip()


class Authenticator:
    """Resolves API keys to principals through the metadata store, with a short,
    thread-safe cache. Transports share the one the core holds."""

    def __init__(
        self,
        meta: MetadataStore,
        ttl_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._meta = meta
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def cached(self, header: str | None) -> Principal | None:
        """The caller of `header` when the cache knows it; no store access, so a
        transport may call it on its event loop (Unauthenticated when malformed)."""
        key = bearer_key(header)
        return self._hit(ids.hash_api_key(key)) if key else None

    def authenticate_header(self, header: str | None) -> Principal:
        """The caller of a request whose Authorization header (or gRPC metadata) is `header`."""
        return self.authenticate_key(bearer_key(header))

    def authenticate(self, credential: str | None) -> Principal:
        """For in-process callers (CLI, `loopy up`): the key itself, or `Bearer <key>`."""
        return self.authenticate_key(bearer_key(credential, bare_key_ok=True))

    def authenticate_key(self, key: str | None) -> Principal:
        """The agent whose key this is; Unauthenticated when missing or unknown."""
        if not key:
            raise Unauthenticated("an API key is required", details=dict(WHERE_THE_KEY_GOES))
        digest = ids.hash_api_key(key)
        hit = self._hit(digest)
        if hit is not None:
            return hit
        agent = self._meta.get_agent_by_key_hash(digest)
        if agent is None:
            raise Unauthenticated(
                "the API key is not valid",
                details={"key_prefix": key[: len(ids.API_KEY_PREFIX)]},
            )
        principal = Principal(agent_id=agent.id, name=agent.name, role=agent.role)
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[digest] = (principal, self._clock() + self.ttl_s)
        return principal

    def _hit(self, digest: str) -> Principal | None:
        with self._lock:
            hit = self._cache.get(digest)
        return hit[0] if hit is not None and hit[1] > self._clock() else None
