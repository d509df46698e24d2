"""Bearer API keys on HTTP: extract the key, let the domain decide who it is.

The transport never judges a key or a role itself: `Loopy.authenticate` raises
Unauthenticated, use-cases raise PermissionDenied. Successful lookups are
cached for a few seconds so hot read paths (GetRun under load) skip the store.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import anyio.to_thread
from litestar import Request

from service.domain.errors import Unauthenticated
from service.domain.models import Principal
from service.domain.service import Loopy

BEARER_SCHEME = "bearerAuth"  # the name of the security scheme in the OpenAPI document


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, None when there is none."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


class Authenticator:
    """Resolve keys to principals through the domain, with a short-lived cache.

    A revoked key keeps working for at most `ttl_s`; the cache is keyed by the
    key's hash so plaintext keys are not kept in memory.
    """

    def __init__(self, core: Loopy, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._core = core
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def _cached(self, digest: str) -> Principal | None:
        hit = self._cache.get(digest)
        if hit is None:
            return None
        principal, expires = hit
        if expires < time.monotonic():
            return None
        return principal

    def _remember(self, digest: str, principal: Principal) -> None:
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[digest] = (principal, time.monotonic() + self._ttl_s)

    async def authenticate(self, authorization: str | None) -> Principal:
        key = bearer_key(authorization)
        if key is None:
            if authorization:
                raise Unauthenticated(
                    "The Authorization header must be `Bearer <api key>`",
                    details={"header": "Authorization"},
                )
            # The domain words the error for a missing key.
            return await anyio.to_thread.run_sync(self._core.authenticate, None)
        digest = hashlib.sha256(key.encode()).hexdigest()
        principal = self._cached(digest)
        if principal is None:
            principal = await anyio.to_thread.run_sync(self._core.authenticate, key)
            self._remember(digest, principal)
        return principal

    async def authenticate_request(self, request: Request[Any, Any, Any]) -> None:
        """`before_request` hook: resolve the caller first, so a request without a valid
        key is a 401 whatever else is wrong with it. Open endpoints take no principal."""
        if "principal" in request.route_handler.parsed_fn_signature.parameters:
            request.state.principal = await self.authenticate(request.headers.get("authorization"))

    async def provide_principal(self, request: Request[Any, Any, Any]) -> Principal:
        """Litestar dependency: the caller of this request."""
        principal = request.state.get("principal")
        if isinstance(principal, Principal):
            return principal
        return await self.authenticate(request.headers.get("authorization"))
