"""Server-sent events of WatchRun, parsed (the generated SDK returns the raw text)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunEvent:
    """One event of a run: `type` is `state` (data: the Run as JSON), `metrics`
    (data: {"points": [...]}) or `log` (data: {"text": ...}); `seq` orders them
    and resumes a broken stream (`after_seq`)."""

    seq: int
    type: str
    data: Any


@dataclass
class SSEParser:
    """Feed text/event-stream lines one at a time; a blank line completes an event.
    Comment lines (`: keep-alive`) complete nothing."""

    _seq: int | None = None
    _type: str = "message"
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> RunEvent | None:
        if line == "":
            event = None
            if self._data:
                event = RunEvent(
                    seq=self._seq if self._seq is not None else -1,
                    type=self._type,
                    data=json.loads("\n".join(self._data)),
                )
            self._seq, self._type, self._data = None, "message", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id" and value.strip().isdigit():
            self._seq = int(value)
        elif name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        return None
