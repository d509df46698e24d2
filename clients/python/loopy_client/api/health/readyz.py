from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.health_status import HealthStatus
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/readyz",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> HealthStatus | None:
    if response.status_code == 200:
        response_200 = HealthStatus.from_dict(response.json())

        return response_200

    if response.status_code == 503:
        response_503 = HealthStatus.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[HealthStatus]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[HealthStatus]:
    """Readiness: the database, broker and object store answer, and agent code can be sealed

     200 when the metadata store, the broker and the artifact store all answer and
    (unless LOOPY_READYZ_CHECKS_SANDBOX=0) this host can seal agent code; 503 (with
    Retry-After) otherwise; store answers are cached for a few seconds. In the operator's
    unsafe mode the sandbox check passes and `details.sandbox` says "none". No key needed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[HealthStatus]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> HealthStatus | None:
    """Readiness: the database, broker and object store answer, and agent code can be sealed

     200 when the metadata store, the broker and the artifact store all answer and
    (unless LOOPY_READYZ_CHECKS_SANDBOX=0) this host can seal agent code; 503 (with
    Retry-After) otherwise; store answers are cached for a few seconds. In the operator's
    unsafe mode the sandbox check passes and `details.sandbox` says "none". No key needed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        HealthStatus
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[HealthStatus]:
    """Readiness: the database, broker and object store answer, and agent code can be sealed

     200 when the metadata store, the broker and the artifact store all answer and
    (unless LOOPY_READYZ_CHECKS_SANDBOX=0) this host can seal agent code; 503 (with
    Retry-After) otherwise; store answers are cached for a few seconds. In the operator's
    unsafe mode the sandbox check passes and `details.sandbox` says "none". No key needed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[HealthStatus]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> HealthStatus | None:
    """Readiness: the database, broker and object store answer, and agent code can be sealed

     200 when the metadata store, the broker and the artifact store all answer and
    (unless LOOPY_READYZ_CHECKS_SANDBOX=0) this host can seal agent code; 503 (with
    Retry-After) otherwise; store answers are cached for a few seconds. In the operator's
    unsafe mode the sandbox check passes and `details.sandbox` says "none". No key needed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        HealthStatus
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
