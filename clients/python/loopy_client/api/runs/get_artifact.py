from http import HTTPStatus
from io import BytesIO
from typing import Any, cast
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import File, Response


def _get_kwargs(
    run: str,
    name: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run}/artifacts/{name}".format(
            run=quote(str(run), safe=""),
            name=quote(str(name), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | File | Problem | None:
    if response.status_code == 200:
        response_200 = File(payload=BytesIO(response.content))

        return response_200

    if response.status_code == 302:
        response_302 = cast(Any, None)
        return response_302

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
) -> Response[Any | File | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    run: str,
    name: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | File | Problem]:
    """Download a run artifact

     Download an artifact of a run: `source` (the train.py it ran), `log` or
    `checkpoint`. Object stores answer with a 302 to a presigned URL; otherwise
    the bytes stream from here with their sha256 in `X-Content-SHA256`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        name (str): `source` (train.py), `log` or `checkpoint`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | File | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        name=name,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    name: str,
    *,
    client: AuthenticatedClient,
) -> Any | File | Problem | None:
    """Download a run artifact

     Download an artifact of a run: `source` (the train.py it ran), `log` or
    `checkpoint`. Object stores answer with a 302 to a presigned URL; otherwise
    the bytes stream from here with their sha256 in `X-Content-SHA256`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        name (str): `source` (train.py), `log` or `checkpoint`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | File | Problem
    """

    return sync_detailed(
        run=run,
        name=name,
        client=client,
    ).parsed


async def asyncio_detailed(
    run: str,
    name: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | File | Problem]:
    """Download a run artifact

     Download an artifact of a run: `source` (the train.py it ran), `log` or
    `checkpoint`. Object stores answer with a 302 to a presigned URL; otherwise
    the bytes stream from here with their sha256 in `X-Content-SHA256`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        name (str): `source` (train.py), `log` or `checkpoint`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | File | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        name=name,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    name: str,
    *,
    client: AuthenticatedClient,
) -> Any | File | Problem | None:
    """Download a run artifact

     Download an artifact of a run: `source` (the train.py it ran), `log` or
    `checkpoint`. Object stores answer with a 302 to a presigned URL; otherwise
    the bytes stream from here with their sha256 in `X-Content-SHA256`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        name (str): `source` (train.py), `log` or `checkpoint`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | File | Problem
    """

    return (
        await asyncio_detailed(
            run=run,
            name=name,
            client=client,
        )
    ).parsed
