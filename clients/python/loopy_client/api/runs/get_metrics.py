from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.metric_series import MetricSeries
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run: str,
    *,
    since_step: int | None | Unset = UNSET,
    names: list[str] | None | Unset = UNSET,
    limit: int | None | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_since_step: int | None | Unset
    if isinstance(since_step, Unset):
        json_since_step = UNSET
    else:
        json_since_step = since_step
    params["since_step"] = json_since_step

    json_names: list[str] | None | Unset
    if isinstance(names, Unset):
        json_names = UNSET
    elif isinstance(names, list):
        json_names = names

    else:
        json_names = names
    params["names"] = json_names

    json_limit: int | None | Unset
    if isinstance(limit, Unset):
        json_limit = UNSET
    else:
        json_limit = limit
    params["limit"] = json_limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run}/metrics".format(
            run=quote(str(run), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> MetricSeries | Problem | None:
    if response.status_code == 200:
        response_200 = MetricSeries.from_dict(response.json())

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
) -> Response[MetricSeries | Problem]:
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
    since_step: int | None | Unset = UNSET,
    names: list[str] | None | Unset = UNSET,
    limit: int | None | Unset = UNSET,
) -> Response[MetricSeries | Problem]:
    """Fetch a run's metric points

     The run's metric time series (`loss`, `lr`, `tokens_per_s`, `val_bpb`, ...),
    ordered by step. Poll with `since_step=<next_since_step>` to get only new
    points; `next_since_step` is null once everything recorded so far was returned.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        since_step (int | None | Unset): Only points with step >= this (pass the previous
            `next_since_step` to continue).
        names (list[str] | None | Unset): Only these metrics (repeat the parameter or separate by
            commas), e.g. `loss,val_bpb`.
        limit (int | None | Unset): At most this many points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MetricSeries | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        since_step=since_step,
        names=names,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    *,
    client: AuthenticatedClient,
    since_step: int | None | Unset = UNSET,
    names: list[str] | None | Unset = UNSET,
    limit: int | None | Unset = UNSET,
) -> MetricSeries | Problem | None:
    """Fetch a run's metric points

     The run's metric time series (`loss`, `lr`, `tokens_per_s`, `val_bpb`, ...),
    ordered by step. Poll with `since_step=<next_since_step>` to get only new
    points; `next_since_step` is null once everything recorded so far was returned.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        since_step (int | None | Unset): Only points with step >= this (pass the previous
            `next_since_step` to continue).
        names (list[str] | None | Unset): Only these metrics (repeat the parameter or separate by
            commas), e.g. `loss,val_bpb`.
        limit (int | None | Unset): At most this many points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MetricSeries | Problem
    """

    return sync_detailed(
        run=run,
        client=client,
        since_step=since_step,
        names=names,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    run: str,
    *,
    client: AuthenticatedClient,
    since_step: int | None | Unset = UNSET,
    names: list[str] | None | Unset = UNSET,
    limit: int | None | Unset = UNSET,
) -> Response[MetricSeries | Problem]:
    """Fetch a run's metric points

     The run's metric time series (`loss`, `lr`, `tokens_per_s`, `val_bpb`, ...),
    ordered by step. Poll with `since_step=<next_since_step>` to get only new
    points; `next_since_step` is null once everything recorded so far was returned.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        since_step (int | None | Unset): Only points with step >= this (pass the previous
            `next_since_step` to continue).
        names (list[str] | None | Unset): Only these metrics (repeat the parameter or separate by
            commas), e.g. `loss,val_bpb`.
        limit (int | None | Unset): At most this many points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MetricSeries | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        since_step=since_step,
        names=names,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    *,
    client: AuthenticatedClient,
    since_step: int | None | Unset = UNSET,
    names: list[str] | None | Unset = UNSET,
    limit: int | None | Unset = UNSET,
) -> MetricSeries | Problem | None:
    """Fetch a run's metric points

     The run's metric time series (`loss`, `lr`, `tokens_per_s`, `val_bpb`, ...),
    ordered by step. Poll with `since_step=<next_since_step>` to get only new
    points; `next_since_step` is null once everything recorded so far was returned.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        since_step (int | None | Unset): Only points with step >= this (pass the previous
            `next_since_step` to continue).
        names (list[str] | None | Unset): Only these metrics (repeat the parameter or separate by
            commas), e.g. `loss,val_bpb`.
        limit (int | None | Unset): At most this many points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MetricSeries | Problem
    """

    return (
        await asyncio_detailed(
            run=run,
            client=client,
            since_step=since_step,
            names=names,
            limit=limit,
        )
    ).parsed
