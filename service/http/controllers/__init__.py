"""Thin HTTP controllers: parse, call one use-case of `Loopy` in a thread, return its struct."""

from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import QueryParameter

from service.domain.models import Principal
from service.domain.service import Loopy
from service.http.auth import BEARER_SCHEME

# Injected by name (see create_app): the one core, and the caller resolved from the API key.
CoreDep = NamedDependency[Loopy]
Caller = NamedDependency[Principal]

SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]

# Shared query parameters of every list operation.
PAGE_SIZE = QueryParameter(
    name="page_size",
    ge=1,
    required=False,
    description="Items per page (server default 50, capped at 1000).",
)
PAGE_TOKEN = QueryParameter(
    name="page_token",
    required=False,
    description="`next_page_token` of the previous page; omit for the first page.",
)
