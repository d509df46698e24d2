from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.revision_view import RevisionView
from ...types import Response


def _get_kwargs(
    revision: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/revisions/{revision}".format(
            revision=quote(str(revision), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | RevisionView | None:
    if response.status_code == 200:
        response_200 = RevisionView.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | RevisionView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    revision: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | RevisionView]:
    """Get a revision: source, diff and lineage

     One version of `train.py`: the full source, its parent, author and
    description, the diff against its parent and against the track baseline,
    its children (ideas built on it) and the runs that trained it.

    Args:
        revision (str): Revision id: the sha256 of its train.py source.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RevisionView]
    """

    kwargs = _get_kwargs(
        revision=revision,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    revision: str,
    *,
    client: AuthenticatedClient,
) -> Problem | RevisionView | None:
    """Get a revision: source, diff and lineage

     One version of `train.py`: the full source, its parent, author and
    description, the diff against its parent and against the track baseline,
    its children (ideas built on it) and the runs that trained it.

    Args:
        revision (str): Revision id: the sha256 of its train.py source.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RevisionView
    """

    return sync_detailed(
        revision=revision,
        client=client,
    ).parsed


async def asyncio_detailed(
    revision: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | RevisionView]:
    """Get a revision: source, diff and lineage

     One version of `train.py`: the full source, its parent, author and
    description, the diff against its parent and against the track baseline,
    its children (ideas built on it) and the runs that trained it.

    Args:
        revision (str): Revision id: the sha256 of its train.py source.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RevisionView]
    """

    kwargs = _get_kwargs(
        revision=revision,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    revision: str,
    *,
    client: AuthenticatedClient,
) -> Problem | RevisionView | None:
    """Get a revision: source, diff and lineage

     One version of `train.py`: the full source, its parent, author and
    description, the diff against its parent and against the track baseline,
    its children (ideas built on it) and the runs that trained it.

    Args:
        revision (str): Revision id: the sha256 of its train.py source.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RevisionView
    """

    return (
        await asyncio_detailed(
            revision=revision,
            client=client,
        )
    ).parsed
