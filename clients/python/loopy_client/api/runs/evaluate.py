from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.evaluate_request import EvaluateRequest
from ...models.evaluation import Evaluation
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    run: str,
    *,
    body: EvaluateRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/runs/{run}/evaluations".format(
            run=quote(str(run), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Evaluation | Problem | None:
    if response.status_code == 201:
        response_201 = Evaluation.from_dict(response.json())

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

    if response.status_code == 412:
        response_412 = Problem.from_dict(response.json())

        return response_412

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

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
    *,
    client: AuthenticatedClient,
    body: EvaluateRequest,
) -> Response[Evaluation | Problem]:
    """Evaluate a run against the head (keep or discard?)

     A decision-grade judgement of a run against a reference (default: the track
    head). Runs *pairs*: candidate and reference with the same seed, dispatched
    together, `replicates` pairs a round, until an anytime-valid e-value is
    decisive or `max_pairs` is reached; PENDING meanwhile (the SDK's
    `wait_for_evaluation` waits for you). When DONE it has the pairs, the mean
    paired gain (`delta`, positive = the candidate is better) with its interval,
    the e-value and the threshold from the track's error budget (LORD++), both
    sides' machine speeds and a verdict: KEEP (then PromoteRun, unless the policy
    auto-promotes), DISCARD, INCONCLUSIVE, CONFOUNDED (the sides ran at different
    machine speeds: evaluate later) or EQUIVALENT (same code once comments and
    formatting are dropped; answered at once without a run). Send `{}` for the
    defaults. Idempotent by `request_id`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        body (EvaluateRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Evaluation | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run: str,
    *,
    client: AuthenticatedClient,
    body: EvaluateRequest,
) -> Evaluation | Problem | None:
    """Evaluate a run against the head (keep or discard?)

     A decision-grade judgement of a run against a reference (default: the track
    head). Runs *pairs*: candidate and reference with the same seed, dispatched
    together, `replicates` pairs a round, until an anytime-valid e-value is
    decisive or `max_pairs` is reached; PENDING meanwhile (the SDK's
    `wait_for_evaluation` waits for you). When DONE it has the pairs, the mean
    paired gain (`delta`, positive = the candidate is better) with its interval,
    the e-value and the threshold from the track's error budget (LORD++), both
    sides' machine speeds and a verdict: KEEP (then PromoteRun, unless the policy
    auto-promotes), DISCARD, INCONCLUSIVE, CONFOUNDED (the sides ran at different
    machine speeds: evaluate later) or EQUIVALENT (same code once comments and
    formatting are dropped; answered at once without a run). Send `{}` for the
    defaults. Idempotent by `request_id`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        body (EvaluateRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Evaluation | Problem
    """

    return sync_detailed(
        run=run,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    run: str,
    *,
    client: AuthenticatedClient,
    body: EvaluateRequest,
) -> Response[Evaluation | Problem]:
    """Evaluate a run against the head (keep or discard?)

     A decision-grade judgement of a run against a reference (default: the track
    head). Runs *pairs*: candidate and reference with the same seed, dispatched
    together, `replicates` pairs a round, until an anytime-valid e-value is
    decisive or `max_pairs` is reached; PENDING meanwhile (the SDK's
    `wait_for_evaluation` waits for you). When DONE it has the pairs, the mean
    paired gain (`delta`, positive = the candidate is better) with its interval,
    the e-value and the threshold from the track's error budget (LORD++), both
    sides' machine speeds and a verdict: KEEP (then PromoteRun, unless the policy
    auto-promotes), DISCARD, INCONCLUSIVE, CONFOUNDED (the sides ran at different
    machine speeds: evaluate later) or EQUIVALENT (same code once comments and
    formatting are dropped; answered at once without a run). Send `{}` for the
    defaults. Idempotent by `request_id`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        body (EvaluateRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Evaluation | Problem]
    """

    kwargs = _get_kwargs(
        run=run,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run: str,
    *,
    client: AuthenticatedClient,
    body: EvaluateRequest,
) -> Evaluation | Problem | None:
    """Evaluate a run against the head (keep or discard?)

     A decision-grade judgement of a run against a reference (default: the track
    head). Runs *pairs*: candidate and reference with the same seed, dispatched
    together, `replicates` pairs a round, until an anytime-valid e-value is
    decisive or `max_pairs` is reached; PENDING meanwhile (the SDK's
    `wait_for_evaluation` waits for you). When DONE it has the pairs, the mean
    paired gain (`delta`, positive = the candidate is better) with its interval,
    the e-value and the threshold from the track's error budget (LORD++), both
    sides' machine speeds and a verdict: KEEP (then PromoteRun, unless the policy
    auto-promotes), DISCARD, INCONCLUSIVE, CONFOUNDED (the sides ran at different
    machine speeds: evaluate later) or EQUIVALENT (same code once comments and
    formatting are dropped; answered at once without a run). Send `{}` for the
    defaults. Idempotent by `request_id`.

    Args:
        run (str): Run id, as returned by LaunchRun or ListRuns.
        body (EvaluateRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Evaluation | Problem
    """

    return (
        await asyncio_detailed(
            run=run,
            client=client,
            body=body,
        )
    ).parsed
