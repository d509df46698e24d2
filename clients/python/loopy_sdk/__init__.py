"""Loopy's Python SDK: thin helpers over the generated client (`loopy_client`).

    from loopy_sdk import connect

    with connect("http://127.0.0.1:8080", api_key) as loopy:
        program = loopy.get_program("my-track")
        edit = loopy.propose_edit("my-track", diff=patch, description="wider MLP")
        run = loopy.launch_and_wait("my-track", edit.revision.id, timeout_s=900)
        print(run.state, run.summary.val_bpb, loopy.metrics(run.id)["loss"][-1])

Errors from the API raise `LoopyAPIError` (with `.code`, `.status`, `.detail`, `.details`).
"""

from loopy_sdk.client import TERMINAL_RUN_STATES, LoopyClient, connect
from loopy_sdk.errors import LoopyAPIError, RunWaitTimeout
from loopy_sdk.events import RunEvent

__all__ = [
    "TERMINAL_RUN_STATES",
    "LoopyAPIError",
    "LoopyClient",
    "RunEvent",
    "RunWaitTimeout",
    "connect",
]
