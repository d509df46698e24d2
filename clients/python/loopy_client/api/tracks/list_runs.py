from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.list_runs_response import ListRunsResponse
from ...models.problem import Problem
from ...models.run_state import RunState
from ...types import UNSET, Response, Unset


def _get_kwargs(
    track: str,
    *,
    state: None | RunState | Unset = UNSET,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_state: None | str | Unset
    if isinstance(state, Unset):
        json_state = UNSET
    elif isinstance(state, RunState):
        json_state = state.value
    else:
        json_state = state
    params["state"] = json_state

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
        "url": "/v1/tracks/{track}/runs".format(
            track=quote(str(track), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ListRunsResponse | Problem | None:
    if response.status_code == 200:
        response_200 = ListRunsResponse.from_dict(response.json())

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
) -> Response[ListRunsResponse | Problem]:
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
    state: None | RunState | Unset = UNSET,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> Response[ListRunsResponse | Problem]:
    """List the runs of a track

     Runs of the track, newest first, optionally only those in one state
    (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED).

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        state (None | RunState | Unset): Only runs in this state.
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListRunsResponse | Problem]
    """

    kwargs = _get_kwargs(
        track=track,
        state=state,
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
    state: None | RunState | Unset = UNSET,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> ListRunsResponse | Problem | None:
    """List the runs of a track

     Runs of the track, newest first, optionally only those in one state
    (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED).

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        state (None | RunState | Unset): Only runs in this state.
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListRunsResponse | Problem
    """

    return sync_detailed(
        track=track,
        client=client,
        state=state,
        page_size=page_size,
        page_token=page_token,
    ).parsed


async def asyncio_detailed(
    track: str,
    *,
    client: AuthenticatedClient,
    state: None | RunState | Unset = UNSET,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> Response[ListRunsResponse | Problem]:
    """List the runs of a track

     Runs of the track, newest first, optionally only those in one state
    (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED).

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        state (None | RunState | Unset): Only runs in this state.
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListRunsResponse | Problem]
    """

    kwargs = _get_kwargs(
        track=track,
        state=state,
        page_size=page_size,
        page_token=page_token,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    track: str,
    *,
    client: AuthenticatedClient,
    state: None | RunState | Unset = UNSET,
    page_size: int | None | Unset = UNSET,
    page_token: str | Unset = "",
) -> ListRunsResponse | Problem | None:
    """List the runs of a track

     Runs of the track, newest first, optionally only those in one state
    (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED).

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        state (None | RunState | Unset): Only runs in this state.
        page_size (int | None | Unset): Items per page (server default 50, capped at 1000).
        page_token (str | Unset): `next_page_token` of the previous page; omit for the first page.
            Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListRunsResponse | Problem
    """

    return (
        await asyncio_detailed(
            track=track,
            client=client,
            state=state,
            page_size=page_size,
            page_token=page_token,
        )
    ).parsed
