from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.run import Run
from ...types import Response


def _get_kwargs(
    run: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run}".format(
            run=quote(str(run), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | Run | None:
    if response.status_code == 200:
        response_200 = Run.from_dict(response.json())

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
    run: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | Run]:
    """Get a run

     A run's state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), its failure
    reason if it failed, and when finished its summary: `val_bpb` (the primary
    metric, lower is better), training seconds, tokens, steps, memory and the
    overhead breakdown.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Run]
    """

    kwargs = _get_kwargs(
        run=run,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    *,
    client: AuthenticatedClient,
) -> Problem | Run | None:
    """Get a run

     A run's state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), its failure
    reason if it failed, and when finished its summary: `val_bpb` (the primary
    metric, lower is better), training seconds, tokens, steps, memory and the
    overhead breakdown.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Run
    """

    return sync_detailed(
        run=run,
        client=client,
    ).parsed


async def asyncio_detailed(
    run: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | Run]:
    """Get a run

     A run's state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), its failure
    reason if it failed, and when finished its summary: `val_bpb` (the primary
    metric, lower is better), training seconds, tokens, steps, memory and the
    overhead breakdown.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Run]
    """

    kwargs = _get_kwargs(
        run=run,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    *,
    client: AuthenticatedClient,
) -> Problem | Run | None:
    """Get a run

     A run's state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), its failure
    reason if it failed, and when finished its summary: `val_bpb` (the primary
    metric, lower is better), training seconds, tokens, steps, memory and the
    overhead breakdown.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Run
    """

    return (
        await asyncio_detailed(
            run=run,
            client=client,
        )
    ).parsed
