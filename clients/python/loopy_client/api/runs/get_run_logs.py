from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.run_logs import RunLogs
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run: str,
    *,
    tail_bytes: int | None | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_tail_bytes: int | None | Unset
    if isinstance(tail_bytes, Unset):
        json_tail_bytes = UNSET
    else:
        json_tail_bytes = tail_bytes
    params["tail_bytes"] = json_tail_bytes

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run}/logs".format(
            run=quote(str(run), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | RunLogs | None:
    if response.status_code == 200:
        response_200 = RunLogs.from_dict(response.json())

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
) -> Response[Problem | RunLogs]:
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
    tail_bytes: int | None | Unset = UNSET,
) -> Response[Problem | RunLogs]:
    """Read a run's output

     The captured stdout and stderr of the training process (capped in size;
    `truncated` says when). Read this when a run FAILED with CRASH or CONTRACT.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        tail_bytes (int | None | Unset): Only the last N bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RunLogs]
    """

    kwargs = _get_kwargs(
        run=run,
        tail_bytes=tail_bytes,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    *,
    client: AuthenticatedClient,
    tail_bytes: int | None | Unset = UNSET,
) -> Problem | RunLogs | None:
    """Read a run's output

     The captured stdout and stderr of the training process (capped in size;
    `truncated` says when). Read this when a run FAILED with CRASH or CONTRACT.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        tail_bytes (int | None | Unset): Only the last N bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RunLogs
    """

    return sync_detailed(
        run=run,
        client=client,
        tail_bytes=tail_bytes,
    ).parsed


async def asyncio_detailed(
    run: str,
    *,
    client: AuthenticatedClient,
    tail_bytes: int | None | Unset = UNSET,
) -> Response[Problem | RunLogs]:
    """Read a run's output

     The captured stdout and stderr of the training process (capped in size;
    `truncated` says when). Read this when a run FAILED with CRASH or CONTRACT.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        tail_bytes (int | None | Unset): Only the last N bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RunLogs]
    """

    kwargs = _get_kwargs(
        run=run,
        tail_bytes=tail_bytes,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    *,
    client: AuthenticatedClient,
    tail_bytes: int | None | Unset = UNSET,
) -> Problem | RunLogs | None:
    """Read a run's output

     The captured stdout and stderr of the training process (capped in size;
    `truncated` says when). Read this when a run FAILED with CRASH or CONTRACT.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        tail_bytes (int | None | Unset): Only the last N bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RunLogs
    """

    return (
        await asyncio_detailed(
            run=run,
            client=client,
            tail_bytes=tail_bytes,
        )
    ).parsed
