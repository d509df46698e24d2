from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_track_request import CreateTrackRequest
from ...models.problem import Problem
from ...models.track import Track
from ...types import Response


def _get_kwargs(
    *,
    body: CreateTrackRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tracks",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | Track | None:
    if response.status_code == 201:
        response_201 = Track.from_dict(response.json())

        return response_201

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
    *,
    client: AuthenticatedClient,
    body: CreateTrackRequest,
) -> Response[Problem | Track]:
    """Create a track (admin)

     Start a new line of research on a harness (admin only).

    Stores the baseline `train.py` (the trainer's baseline unless
    `baseline_source` is given) as both the baseline and the head revision,
    and launches `policy.calibration_runs` baseline runs with different seeds
    so the track learns the noise of its metric. Idempotent by `request_id`.
    409 when the track id is taken, 404 when the harness does not exist.

    Args:
        body (CreateTrackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Track]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CreateTrackRequest,
) -> Problem | Track | None:
    """Create a track (admin)

     Start a new line of research on a harness (admin only).

    Stores the baseline `train.py` (the trainer's baseline unless
    `baseline_source` is given) as both the baseline and the head revision,
    and launches `policy.calibration_runs` baseline runs with different seeds
    so the track learns the noise of its metric. Idempotent by `request_id`.
    409 when the track id is taken, 404 when the harness does not exist.

    Args:
        body (CreateTrackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Track
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateTrackRequest,
) -> Response[Problem | Track]:
    """Create a track (admin)

     Start a new line of research on a harness (admin only).

    Stores the baseline `train.py` (the trainer's baseline unless
    `baseline_source` is given) as both the baseline and the head revision,
    and launches `policy.calibration_runs` baseline runs with different seeds
    so the track learns the noise of its metric. Idempotent by `request_id`.
    409 when the track id is taken, 404 when the harness does not exist.

    Args:
        body (CreateTrackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Track]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateTrackRequest,
) -> Problem | Track | None:
    """Create a track (admin)

     Start a new line of research on a harness (admin only).

    Stores the baseline `train.py` (the trainer's baseline unless
    `baseline_source` is given) as both the baseline and the head revision,
    and launches `policy.calibration_runs` baseline runs with different seeds
    so the track learns the noise of its metric. Idempotent by `request_id`.
    409 when the track id is taken, 404 when the harness does not exist.

    Args:
        body (CreateTrackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Track
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
