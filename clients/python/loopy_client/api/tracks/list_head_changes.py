from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.list_head_changes_response import ListHeadChangesResponse
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    track: str,
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
        "url": "/v1/tracks/{track}/head-changes".format(
            track=quote(str(track), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ListHeadChangesResponse | Problem | None:
    if response.status_code == 200:
        response_200 = ListHeadChangesResponse.from_dict(response.json())

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
) -> Response[ListHeadChangesResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    track: str,
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> Response[ListHeadChangesResponse | Problem]:
    """Every move of a track's head

     The head's history, oldest first: who moved it, when, on which KEEP
    evaluation, or forced by an admin and why.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListHeadChangesResponse | Problem]
    """

    kwargs = _get_kwargs(
        track=track,
        page_size=page_size,
        page_token=page_token,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    track: str,
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> ListHeadChangesResponse | Problem | None:
    """Every move of a track's head

     The head's history, oldest first: who moved it, when, on which KEEP
    evaluation, or forced by an admin and why.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListHeadChangesResponse | Problem
    """

    return sync_detailed(
        track=track,
        client=client,
        page_size=page_size,
        page_token=page_token,
    ).parsed


async def asyncio_detailed(
    track: str,
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> Response[ListHeadChangesResponse | Problem]:
    """Every move of a track's head

     The head's history, oldest first: who moved it, when, on which KEEP
    evaluation, or forced by an admin and why.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListHeadChangesResponse | Problem]
    """

    kwargs = _get_kwargs(
        track=track,
        page_size=page_size,
        page_token=page_token,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    track: str,
    *,
    client: AuthenticatedClient,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> ListHeadChangesResponse | Problem | None:
    """Every move of a track's head

     The head's history, oldest first: who moved it, when, on which KEEP
    evaluation, or forced by an admin and why.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListHeadChangesResponse | Problem
    """

    return (
        await asyncio_detailed(
            track=track,
            client=client,
            page_size=page_size,
            page_token=page_token,
        )
    ).parsed
