from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run: str,
    *,
    after_seq: int | None | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id

    params: dict[str, Any] = {}

    json_after_seq: int | None | Unset
    if isinstance(after_seq, Unset):
        json_after_seq = UNSET
    else:
        json_after_seq = after_seq
    params["after_seq"] = json_after_seq

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run}/events".format(
            run=quote(str(run), safe=""),
        ),
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | str | None:
    if response.status_code == 200:
        response_200 = response.text
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
) -> Response[Problem | str]:
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
    after_seq: int | None | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Response[Problem | str]:
    """Watch a run live (server-sent events)

     Stream the run's events as they happen: state changes, metric points and
    log chunks, starting with everything already recorded. Reconnect with the
    `Last-Event-ID` header (browsers and SSE clients do this by themselves) or
    `?after_seq=` to resume without gaps or repeats. Comment lines are sent
    every few seconds to keep the connection alive.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        after_seq (int | None | Unset): Only events with a larger seq (resume); the `Last-Event-
            ID` header does the same.
        last_event_id (None | str | Unset): The id of the last event you received; the stream
            resumes after it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | str]
    """

    kwargs = _get_kwargs(
        run=run,
        after_seq=after_seq,
        last_event_id=last_event_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    *,
    client: AuthenticatedClient,
    after_seq: int | None | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Problem | str | None:
    """Watch a run live (server-sent events)

     Stream the run's events as they happen: state changes, metric points and
    log chunks, starting with everything already recorded. Reconnect with the
    `Last-Event-ID` header (browsers and SSE clients do this by themselves) or
    `?after_seq=` to resume without gaps or repeats. Comment lines are sent
    every few seconds to keep the connection alive.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        after_seq (int | None | Unset): Only events with a larger seq (resume); the `Last-Event-
            ID` header does the same.
        last_event_id (None | str | Unset): The id of the last event you received; the stream
            resumes after it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | str
    """

    return sync_detailed(
        run=run,
        client=client,
        after_seq=after_seq,
        last_event_id=last_event_id,
    ).parsed


async def asyncio_detailed(
    run: str,
    *,
    client: AuthenticatedClient,
    after_seq: int | None | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Response[Problem | str]:
    """Watch a run live (server-sent events)

     Stream the run's events as they happen: state changes, metric points and
    log chunks, starting with everything already recorded. Reconnect with the
    `Last-Event-ID` header (browsers and SSE clients do this by themselves) or
    `?after_seq=` to resume without gaps or repeats. Comment lines are sent
    every few seconds to keep the connection alive.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        after_seq (int | None | Unset): Only events with a larger seq (resume); the `Last-Event-
            ID` header does the same.
        last_event_id (None | str | Unset): The id of the last event you received; the stream
            resumes after it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | str]
    """

    kwargs = _get_kwargs(
        run=run,
        after_seq=after_seq,
        last_event_id=last_event_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    *,
    client: AuthenticatedClient,
    after_seq: int | None | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Problem | str | None:
    """Watch a run live (server-sent events)

     Stream the run's events as they happen: state changes, metric points and
    log chunks, starting with everything already recorded. Reconnect with the
    `Last-Event-ID` header (browsers and SSE clients do this by themselves) or
    `?after_seq=` to resume without gaps or repeats. Comment lines are sent
    every few seconds to keep the connection alive.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        after_seq (int | None | Unset): Only events with a larger seq (resume); the `Last-Event-
            ID` header does the same.
        last_event_id (None | str | Unset): The id of the last event you received; the stream
            resumes after it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | str
    """

    return (
        await asyncio_detailed(
            run=run,
            client=client,
            after_seq=after_seq,
            last_event_id=last_event_id,
        )
    ).parsed
