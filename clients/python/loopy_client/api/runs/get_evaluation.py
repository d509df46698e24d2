from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.evaluation import Evaluation
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    run: str,
    evaluation: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run}/evaluations/{evaluation}".format(
            run=quote(str(run), safe=""),
            evaluation=quote(str(evaluation), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Evaluation | Problem | None:
    if response.status_code == 200:
        response_200 = Evaluation.from_dict(response.json())

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
) -> Response[Evaluation | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    run: str,
    evaluation: str,
    *,
    client: AuthenticatedClient,
) -> Response[Evaluation | Problem]:
    """Get an evaluation

     An evaluation's state (PENDING, DONE, FAILED), the pairs so far, `reason`
    and, when DONE, its statistics and verdict (KEEP, DISCARD, INCONCLUSIVE,
    CONFOUNDED or EQUIVALENT).

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        evaluation (str): Evaluation id from Evaluate.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Evaluation | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        evaluation=evaluation,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    evaluation: str,
    *,
    client: AuthenticatedClient,
) -> Evaluation | Problem | None:
    """Get an evaluation

     An evaluation's state (PENDING, DONE, FAILED), the pairs so far, `reason`
    and, when DONE, its statistics and verdict (KEEP, DISCARD, INCONCLUSIVE,
    CONFOUNDED or EQUIVALENT).

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        evaluation (str): Evaluation id from Evaluate.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Evaluation | Problem
    """

    return sync_detailed(
        run=run,
        evaluation=evaluation,
        client=client,
    ).parsed


async def asyncio_detailed(
    run: str,
    evaluation: str,
    *,
    client: AuthenticatedClient,
) -> Response[Evaluation | Problem]:
    """Get an evaluation

     An evaluation's state (PENDING, DONE, FAILED), the pairs so far, `reason`
    and, when DONE, its statistics and verdict (KEEP, DISCARD, INCONCLUSIVE,
    CONFOUNDED or EQUIVALENT).

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        evaluation (str): Evaluation id from Evaluate.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Evaluation | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        evaluation=evaluation,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    evaluation: str,
    *,
    client: AuthenticatedClient,
) -> Evaluation | Problem | None:
    """Get an evaluation

     An evaluation's state (PENDING, DONE, FAILED), the pairs so far, `reason`
    and, when DONE, its statistics and verdict (KEEP, DISCARD, INCONCLUSIVE,
    CONFOUNDED or EQUIVALENT).

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        evaluation (str): Evaluation id from Evaluate.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Evaluation | Problem
    """

    return (
        await asyncio_detailed(
            run=run,
            evaluation=evaluation,
            client=client,
        )
    ).parsed
