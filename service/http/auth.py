"""Bearer API keys on HTTP: hand the `Authorization` header to the domain.

The transport never judges a key or a role itself: the core's `Authenticator`
(service.domain.auth, shared with gRPC) parses the header, keeps the key cache
and raises Unauthenticated; use-cases raise PermissionDenied.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request

from service.domain.auth import Authenticator
from service.domain.models import Principal

BEARER_SCHEME = "bearerAuth"  # the name of the security scheme in the OpenAPI document


class RequestAuth:
    """Litestar hooks that resolve the caller of a request."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def authenticate(self, authorization: str | None) -> Principal:
        # A cache hit costs no thread; a miss reads the store off the event loop.
        cached = self._authenticator.cached(authorization)
        if cached is not None:
            return cached
        return await anyio.to_thread.run_sync(
            self._authenticator.authenticate_header, authorization
        )

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
