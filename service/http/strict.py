"""Refuse what the API does not know instead of ignoring it.

An agent that misspells `revison_id` in a LaunchRun body or `page_sise` in a
query would otherwise silently get the default (train the head; a page of 50)
and draw wrong conclusions. Both are INVALID_ARGUMENT naming the field.

Request bodies declared with msgspec's `forbid_unknown_fields` are refused by
msgspec itself while Litestar decodes them (service/http/problems.py names the
field). The walk below covers the two bodies that cannot declare it: CreateTrack
and CreateAgent nest `DecisionPolicy` and `AgentQuota`, which are also stored
documents, and a stored type that forbids unknown fields would make rows written
by a newer version unreadable after a rollback.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from service.domain.errors import InvalidArgument


async def reject_unknown_input(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook: unknown query parameters and unknown body fields are 400s."""
    handler = request.route_handler
    if request.scope.get("query_string"):
        known = _declared_query_parameters(handler)
        unknown = sorted(set(request.query_params.keys()) - known)
        if unknown:
            raise InvalidArgument(
                f"unknown query parameter `{unknown[0]}`"
                + (f"; this operation takes: {', '.join(sorted(known))}" if known else ""),
                details={"field": unknown[0], "unknown": unknown, "known": sorted(known)},
            )
    body_type = _body_type(handler)
    if body_type is None or body_type.__struct_config__.forbid_unknown_fields:
        return
    body = await request.body()  # Litestar keeps it for the handler's own decoding
    if not body:
        return
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # malformed JSON: the handler's decoding words that error
    except RecursionError:  # e.g. `[[[[...]]]]` a thousand deep
        raise InvalidArgument(
            "the JSON body is nested too deeply", details={"field": "body"}
        ) from None
    path = _first_unknown_field(msgspec.inspect.type_info(body_type), document, "")
    if path is not None:
        raise InvalidArgument(
            f"unknown field `{path}` in the request body",
            details={"field": path},
        )


@functools.cache
def _declared_query_parameters(handler: HTTPRouteHandler) -> frozenset[str]:
    return frozenset(
        field.kwarg_definition.name or name
        for name, field in handler.parsed_fn_signature.parameters.items()
        if isinstance(field.kwarg_definition, QueryParameter)
    )


@functools.cache
def _body_type(handler: HTTPRouteHandler) -> type[msgspec.Struct] | None:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    annotation = data.annotation
    return (
        annotation
        if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
        else None
    )


def _first_unknown_field(info: msgspec.inspect.Type, value: Any, path: str) -> str | None:
    """The dotted path of the first key in `value` that the type does not declare."""
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {field.encode_name: field for field in info.fields}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in fields:
                return where
            found = _first_unknown_field(fields[key].type, item, where)
            if found is not None:
                return found
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if isinstance(member, msgspec.inspect.StructType | msgspec.inspect.ListType):
                return _first_unknown_field(member, value, path)
    elif isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unknown_field(info.item_type, item, f"{path}.{index}")
            if found is not None:
                return found
    return None
