from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.list_harnesses_response import ListHarnessesResponse
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_page_size: int | None | Unset
    if isinstance(page_size, Unset):
        json_page_size = UNSET
    else:
        json_page_size = page_size
    params["page_size"] = json_page_size

    params["page_token"] = page_token

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/harnesses",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ListHarnessesResponse | Problem | None:
    if response.status_code == 200:
        response_200 = ListHarnessesResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ListHarnessesResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> Response[ListHarnessesResponse | Problem]:
    """List harnesses

     Every registered harness (needed to create a track).

    Args:
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListHarnessesResponse | Problem]
    """

    kwargs = _get_kwargs(
        page_size=page_size,
        page_token=page_token,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> ListHarnessesResponse | Problem | None:
    """List harnesses

     Every registered harness (needed to create a track).

    Args:
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListHarnessesResponse | Problem
    """

    return sync_detailed(
        client=client,
        page_size=page_size,
        page_token=page_token,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> Response[ListHarnessesResponse | Problem]:
    """List harnesses

     Every registered harness (needed to create a track).

    Args:
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListHarnessesResponse | Problem]
    """

    kwargs = _get_kwargs(
        page_size=page_size,
        page_token=page_token,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> ListHarnessesResponse | Problem | None:
    """List harnesses

     Every registered harness (needed to create a track).

    Args:
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListHarnessesResponse | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            page_size=page_size,
            page_token=page_token,
        )
    ).parsed
