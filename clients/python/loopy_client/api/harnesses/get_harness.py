from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.harness import Harness
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    harness: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/harnesses/{harness}".format(
            harness=quote(str(harness), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Harness | Problem | None:
    if response.status_code == 200:
        response_200 = Harness.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Harness | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    harness: str,
    *,
    client: AuthenticatedClient,
) -> Response[Harness | Problem]:
    """Get a harness

     A harness: vocabulary size, sequence length, validation tokens, time
    budget, metric and the sha256 of every file.

    Args:
        harness (str): Harness id (16 hex characters).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Harness | Problem]
    """

    kwargs = _get_kwargs(
        harness=harness,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    harness: str,
    *,
    client: AuthenticatedClient,
) -> Harness | Problem | None:
    """Get a harness

     A harness: vocabulary size, sequence length, validation tokens, time
    budget, metric and the sha256 of every file.

    Args:
        harness (str): Harness id (16 hex characters).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Harness | Problem
    """

    return sync_detailed(
        harness=harness,
        client=client,
    ).parsed


async def asyncio_detailed(
    harness: str,
    *,
    client: AuthenticatedClient,
) -> Response[Harness | Problem]:
    """Get a harness

     A harness: vocabulary size, sequence length, validation tokens, time
    budget, metric and the sha256 of every file.

    Args:
        harness (str): Harness id (16 hex characters).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Harness | Problem]
    """

    kwargs = _get_kwargs(
        harness=harness,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    harness: str,
    *,
    client: AuthenticatedClient,
) -> Harness | Problem | None:
    """Get a harness

     A harness: vocabulary size, sequence length, validation tokens, time
    budget, metric and the sha256 of every file.

    Args:
        harness (str): Harness id (16 hex characters).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Harness | Problem
    """

    return (
        await asyncio_detailed(
            harness=harness,
            client=client,
        )
    ).parsed
