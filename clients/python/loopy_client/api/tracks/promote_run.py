from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.promote_request import PromoteRequest
from ...models.track import Track
from ...types import Response


def _get_kwargs(
    track: str,
    *,
    body: PromoteRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tracks/{track}/promote".format(
            track=quote(str(track), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
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

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 412:
        response_412 = Problem.from_dict(response.json())

        return response_412

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
    body: PromoteRequest,
) -> Response[Problem | Track]:
    """Keep a run: advance the track head to its revision

     Make the run's revision the new head of the track (a compare-and-swap).

    The head moves on evidence only: the run's revision needs a finished
    evaluation with verdict KEEP against the current head (`evaluation_id`
    picks one; default: the newest). Without one the answer is 412 with the
    evaluations found in `details`. An admin may pass `force: true` with a
    `reason` instead; every change is recorded (ListHeadChanges). If another
    agent advanced the head first, the answer is 409 with the current head in
    `details`: rebase your idea on it (ProposeEdit), run and evaluate again.
    Returns the updated track.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (PromoteRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Track]
    """

    kwargs = _get_kwargs(
        track=track,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    track: str,
    *,
    client: AuthenticatedClient,
    body: PromoteRequest,
) -> Problem | Track | None:
    """Keep a run: advance the track head to its revision

     Make the run's revision the new head of the track (a compare-and-swap).

    The head moves on evidence only: the run's revision needs a finished
    evaluation with verdict KEEP against the current head (`evaluation_id`
    picks one; default: the newest). Without one the answer is 412 with the
    evaluations found in `details`. An admin may pass `force: true` with a
    `reason` instead; every change is recorded (ListHeadChanges). If another
    agent advanced the head first, the answer is 409 with the current head in
    `details`: rebase your idea on it (ProposeEdit), run and evaluate again.
    Returns the updated track.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (PromoteRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Track
    """

    return sync_detailed(
        track=track,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    track: str,
    *,
    client: AuthenticatedClient,
    body: PromoteRequest,
) -> Response[Problem | Track]:
    """Keep a run: advance the track head to its revision

     Make the run's revision the new head of the track (a compare-and-swap).

    The head moves on evidence only: the run's revision needs a finished
    evaluation with verdict KEEP against the current head (`evaluation_id`
    picks one; default: the newest). Without one the answer is 412 with the
    evaluations found in `details`. An admin may pass `force: true` with a
    `reason` instead; every change is recorded (ListHeadChanges). If another
    agent advanced the head first, the answer is 409 with the current head in
    `details`: rebase your idea on it (ProposeEdit), run and evaluate again.
    Returns the updated track.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (PromoteRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Track]
    """

    kwargs = _get_kwargs(
        track=track,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    track: str,
    *,
    client: AuthenticatedClient,
    body: PromoteRequest,
) -> Problem | Track | None:
    """Keep a run: advance the track head to its revision

     Make the run's revision the new head of the track (a compare-and-swap).

    The head moves on evidence only: the run's revision needs a finished
    evaluation with verdict KEEP against the current head (`evaluation_id`
    picks one; default: the newest). Without one the answer is 412 with the
    evaluations found in `details`. An admin may pass `force: true` with a
    `reason` instead; every change is recorded (ListHeadChanges). If another
    agent advanced the head first, the answer is 409 with the current head in
    `details`: rebase your idea on it (ProposeEdit), run and evaluate again.
    Returns the updated track.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (PromoteRequest):

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
            body=body,
        )
    ).parsed
