from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.propose_edit_request import ProposeEditRequest
from ...models.propose_edit_result import ProposeEditResult
from ...types import Response


def _get_kwargs(
    track: str,
    *,
    body: ProposeEditRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tracks/{track}/revisions".format(
            track=quote(str(track), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | ProposeEditResult | None:
    if response.status_code == 201:
        response_201 = ProposeEditResult.from_dict(response.json())

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

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | ProposeEditResult]:
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
    body: ProposeEditRequest,
) -> Response[Problem | ProposeEditResult]:
    """Propose an edit to train.py

     Create a new revision of the track's `train.py` from the head (or
    `base_revision`) and exactly one of: `unified_diff`, `search_replace`
    blocks, or `full_source`. The result must apply, parse, define
    `build_model` and `train`, and stay under the size limits; a diff made on an
    older base is rebased onto the head when it merges cleanly.

    A refusal is a 400 whose `details` says precisely why (the hunk or block
    that did not match and the nearest text; the syntax error with line and
    column). Proposing source that already exists returns that revision with
    `already_exists: true` and its runs, so nothing is trained twice by accident.
    Next: LaunchRun with the returned `revision.id`.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (ProposeEditRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ProposeEditResult]
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
    body: ProposeEditRequest,
) -> Problem | ProposeEditResult | None:
    """Propose an edit to train.py

     Create a new revision of the track's `train.py` from the head (or
    `base_revision`) and exactly one of: `unified_diff`, `search_replace`
    blocks, or `full_source`. The result must apply, parse, define
    `build_model` and `train`, and stay under the size limits; a diff made on an
    older base is rebased onto the head when it merges cleanly.

    A refusal is a 400 whose `details` says precisely why (the hunk or block
    that did not match and the nearest text; the syntax error with line and
    column). Proposing source that already exists returns that revision with
    `already_exists: true` and its runs, so nothing is trained twice by accident.
    Next: LaunchRun with the returned `revision.id`.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (ProposeEditRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ProposeEditResult
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
    body: ProposeEditRequest,
) -> Response[Problem | ProposeEditResult]:
    """Propose an edit to train.py

     Create a new revision of the track's `train.py` from the head (or
    `base_revision`) and exactly one of: `unified_diff`, `search_replace`
    blocks, or `full_source`. The result must apply, parse, define
    `build_model` and `train`, and stay under the size limits; a diff made on an
    older base is rebased onto the head when it merges cleanly.

    A refusal is a 400 whose `details` says precisely why (the hunk or block
    that did not match and the nearest text; the syntax error with line and
    column). Proposing source that already exists returns that revision with
    `already_exists: true` and its runs, so nothing is trained twice by accident.
    Next: LaunchRun with the returned `revision.id`.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (ProposeEditRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ProposeEditResult]
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
    body: ProposeEditRequest,
) -> Problem | ProposeEditResult | None:
    """Propose an edit to train.py

     Create a new revision of the track's `train.py` from the head (or
    `base_revision`) and exactly one of: `unified_diff`, `search_replace`
    blocks, or `full_source`. The result must apply, parse, define
    `build_model` and `train`, and stay under the size limits; a diff made on an
    older base is rebased onto the head when it merges cleanly.

    A refusal is a 400 whose `details` says precisely why (the hunk or block
    that did not match and the nearest text; the syntax error with line and
    column). Proposing source that already exists returns that revision with
    `already_exists: true` and its runs, so nothing is trained twice by accident.
    Next: LaunchRun with the returned `revision.id`.

    Args:
        track (str): Track id, e.g. `baseline-cpu` (see ListTracks).
        body (ProposeEditRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ProposeEditResult
    """

    return (
        await asyncio_detailed(
            track=track,
            client=client,
            body=body,
        )
    ).parsed
