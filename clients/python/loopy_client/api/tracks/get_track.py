from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.track import Track
from ...types import Response


def _get_kwargs(
    track: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tracks/{track}".format(
            track=quote(str(track), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | Track | None:
    if response.status_code == 200:
        response_200 = Track.from_dict(response.json())

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
) -> Response[Problem | Track]:
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
) -> Response[Problem | Track]:
    """Get a track

     A track: its harness, baseline and head revision (the current best), the
    run that justified the head, the decision policy and the measured noise.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Track]
    """

    kwargs = _get_kwargs(
        track=track,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    track: str,
    *,
    client: AuthenticatedClient,
) -> Problem | Track | None:
    """Get a track

     A track: its harness, baseline and head revision (the current best), the
    run that justified the head, the decision policy and the measured noise.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Track
    """

    return sync_detailed(
        track=track,
        client=client,
    ).parsed


async def asyncio_detailed(
    track: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | Track]:
    """Get a track

     A track: its harness, baseline and head revision (the current best), the
    run that justified the head, the decision policy and the measured noise.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Track]
    """

    kwargs = _get_kwargs(
        track=track,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    track: str,
    *,
    client: AuthenticatedClient,
) -> Problem | Track | None:
    """Get a track

     A track: its harness, baseline and head revision (the current best), the
    run that justified the head, the decision policy and the measured noise.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Track
    """

    return (
        await asyncio_detailed(
            track=track,
            client=client,
        )
    ).parsed
