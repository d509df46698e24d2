from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_harness_request import CreateHarnessRequest
from ...models.harness import Harness
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    *,
    body: CreateHarnessRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/harnesses",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Harness | Problem | None:
    if response.status_code == 201:
        response_201 = Harness.from_dict(response.json())

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
) -> Response[Harness | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateHarnessRequest,
) -> Response[Harness | Problem]:
    """Register a harness (admin)

     Register the fixed, read-only part of experiments (admin only): tokenized
    training shards, the pinned validation set, tokenizer, sequence length,
    time budget and metric. `path` is a prepared harness directory readable by
    the server (`loopy data prepare`); `demo: true` builds the small demo
    harness. Files are copied to the artifact store and verified; the id is
    derived from their hashes, so registering the same harness twice returns it.

    Args:
        body (CreateHarnessRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Harness | Problem]
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
    body: CreateHarnessRequest,
) -> Harness | Problem | None:
    """Register a harness (admin)

     Register the fixed, read-only part of experiments (admin only): tokenized
    training shards, the pinned validation set, tokenizer, sequence length,
    time budget and metric. `path` is a prepared harness directory readable by
    the server (`loopy data prepare`); `demo: true` builds the small demo
    harness. Files are copied to the artifact store and verified; the id is
    derived from their hashes, so registering the same harness twice returns it.

    Args:
        body (CreateHarnessRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Harness | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateHarnessRequest,
) -> Response[Harness | Problem]:
    """Register a harness (admin)

     Register the fixed, read-only part of experiments (admin only): tokenized
    training shards, the pinned validation set, tokenizer, sequence length,
    time budget and metric. `path` is a prepared harness directory readable by
    the server (`loopy data prepare`); `demo: true` builds the small demo
    harness. Files are copied to the artifact store and verified; the id is
    derived from their hashes, so registering the same harness twice returns it.

    Args:
        body (CreateHarnessRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Harness | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateHarnessRequest,
) -> Harness | Problem | None:
    """Register a harness (admin)

     Register the fixed, read-only part of experiments (admin only): tokenized
    training shards, the pinned validation set, tokenizer, sequence length,
    time budget and metric. `path` is a prepared harness directory readable by
    the server (`loopy data prepare`); `demo: true` builds the small demo
    harness. Files are copied to the artifact store and verified; the id is
    derived from their hashes, so registering the same harness twice returns it.

    Args:
        body (CreateHarnessRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Harness | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
