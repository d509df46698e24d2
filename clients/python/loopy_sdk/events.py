"""Server-sent events of WatchRun, decoded (the generated SDK returns the raw text).

httpx-sse reads the text/event-stream (ids, event types, data split over lines,
keep-alive comments); this module turns each of its events into a `RunEvent`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent


@dataclass(frozen=True)
class RunEvent:
    """One event of a run: `type` is `state` (data: the Run as JSON), `metrics`
    (data: {"points": [...]}) or `log` (data: {"text": ...}); `seq` orders them
    and resumes a broken stream (`after_seq`)."""

    seq: int
    type: str
    data: Any

    @classmethod
    def from_sse(cls, sse: ServerSentEvent) -> RunEvent:
        seq = int(sse.id) if sse.id.strip().isdigit() else -1
        return cls(seq=seq, type=sse.event, data=sse.json())


def run_events(response: httpx.Response) -> Iterator[RunEvent]:
    """The events of a WatchRun response as they arrive (the client's response hook
    has already turned an error answer into LoopyAPIError)."""
    for sse in EventSource(response).iter_sse():
        if sse.data:  # an event without data carries nothing for a run
            yield RunEvent.from_sse(sse)
