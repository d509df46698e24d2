from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.launch_run_request import LaunchRunRequest
from ...models.problem import Problem
from ...models.run import Run
from ...types import Response


def _get_kwargs(
    *,
    body: LaunchRunRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/runs",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | Run | None:
    if response.status_code == 201:
        response_201 = Run.from_dict(response.json())

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

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | Run]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: LaunchRunRequest,
) -> Response[Problem | Run]:
    """Launch a training run

     Queue one training of a revision (default: the track head) with one seed
    (default: chosen by the service) under the track's harness and time budget.
    The run starts QUEUED; follow it with WatchRun (SSE) or GetRun. Idempotent by
    `request_id`: a retry returns the same run. 429 with `Retry-After` when you
    have too many queued runs or no compute seconds left.

    Args:
        body (LaunchRunRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Run]
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
    body: LaunchRunRequest,
) -> Problem | Run | None:
    """Launch a training run

     Queue one training of a revision (default: the track head) with one seed
    (default: chosen by the service) under the track's harness and time budget.
    The run starts QUEUED; follow it with WatchRun (SSE) or GetRun. Idempotent by
    `request_id`: a retry returns the same run. 429 with `Retry-After` when you
    have too many queued runs or no compute seconds left.

    Args:
        body (LaunchRunRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Run
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: LaunchRunRequest,
) -> Response[Problem | Run]:
    """Launch a training run

     Queue one training of a revision (default: the track head) with one seed
    (default: chosen by the service) under the track's harness and time budget.
    The run starts QUEUED; follow it with WatchRun (SSE) or GetRun. Idempotent by
    `request_id`: a retry returns the same run. 429 with `Retry-After` when you
    have too many queued runs or no compute seconds left.

    Args:
        body (LaunchRunRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Run]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: LaunchRunRequest,
) -> Problem | Run | None:
    """Launch a training run

     Queue one training of a revision (default: the track head) with one seed
    (default: chosen by the service) under the track's harness and time budget.
    The run starts QUEUED; follow it with WatchRun (SSE) or GetRun. Idempotent by
    `request_id`: a retry returns the same run. 429 with `Retry-After` when you
    have too many queued runs or no compute seconds left.

    Args:
        body (LaunchRunRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Run
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
