from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.leaderboard import Leaderboard
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    track: str,
    *,
    limit: int | None | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_limit: int | None | Unset
    if isinstance(limit, Unset):
        json_limit = UNSET
    else:
        json_limit = limit
    params["limit"] = json_limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tracks/{track}/leaderboard".format(
            track=quote(str(track), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Leaderboard | Problem | None:
    if response.status_code == 200:
        response_200 = Leaderboard.from_dict(response.json())

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
) -> Response[Leaderboard | Problem]:
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
    limit: int | None | Unset = UNSET,
) -> Response[Leaderboard | Problem]:
    """Best revisions of a track

     Revisions ranked by their best finished run on the track's metric (lower
    is better), with mean, run count and whether each is the head.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        limit (int | None | Unset): At most this many.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Leaderboard | Problem]
    """

    kwargs = _get_kwargs(
        track=track,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    track: str,
    *,
    client: AuthenticatedClient,
    limit: int | None | Unset = UNSET,
) -> Leaderboard | Problem | None:
    """Best revisions of a track

     Revisions ranked by their best finished run on the track's metric (lower
    is better), with mean, run count and whether each is the head.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        limit (int | None | Unset): At most this many.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Leaderboard | Problem
    """

    return sync_detailed(
        track=track,
        client=client,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    track: str,
    *,
    client: AuthenticatedClient,
    limit: int | None | Unset = UNSET,
) -> Response[Leaderboard | Problem]:
    """Best revisions of a track

     Revisions ranked by their best finished run on the track's metric (lower
    is better), with mean, run count and whether each is the head.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        limit (int | None | Unset): At most this many.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Leaderboard | Problem]
    """

    kwargs = _get_kwargs(
        track=track,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    track: str,
    *,
    client: AuthenticatedClient,
    limit: int | None | Unset = UNSET,
) -> Leaderboard | Problem | None:
    """Best revisions of a track

     Revisions ranked by their best finished run on the track's metric (lower
    is better), with mean, run count and whether each is the head.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        limit (int | None | Unset): At most this many.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Leaderboard | Problem
    """

    return (
        await asyncio_detailed(
            track=track,
            client=client,
            limit=limit,
        )
    ).parsed
