"""What callers send: the bodies of the use-cases that create or change something
(edits, runs, evaluations, promotions; tracks, agents and harnesses for admins)."""

from __future__ import annotations

import msgspec

from service.domain.enums import BudgetKind, Role
from service.domain.resources import AgentQuota, DecisionPolicy


class CreateTrackRequest(msgspec.Struct, kw_only=True):
    track_id: str  # [a-z0-9-]{3,63}
    harness_id: str
    display_name: str = ""
    description: str = ""
    program: str | None = None  # default: a generated research program
    baseline_source: str | None = None  # default: the trainer's baseline train.py
    device_class: str = "cpu"
    time_budget_s: float | None = None  # default: the harness budget
    policy: DecisionPolicy = msgspec.field(default_factory=DecisionPolicy)
    # WALL_SECONDS (default): each run trains for time_budget_s. TOKENS: each run trains
    # on token_budget tokens (time_budget_s stays the hard limit), so runs on slow or
    # busy workers compare fairly with runs on fast ones.
    budget_kind: BudgetKind = BudgetKind.WALL_SECONDS
    token_budget: int = 0
    allowed_imports: list[str] | None = None  # default: DomainSettings.default_allowed_imports
    request_id: str | None = None


class CreateAgentRequest(msgspec.Struct, kw_only=True):
    name: str
    role: Role = Role.AGENT
    quota: AgentQuota | None = None


class CreateHarnessRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Register a prepared harness directory readable by the server (admin only).

    The files are copied into the artifact store and verified against the manifest.
    `demo=True` builds (or reuses) the demo harness instead of reading `path`.
    """

    path: str | None = None
    demo: bool = False
    description: str = ""
    request_id: str | None = None


class SearchReplaceBlock(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    search: str
    replace: str


class ProposeEditRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: str = ""
    base_revision: str | None = None  # default: the track head
    unified_diff: str | None = None  # exactly one of these three
    search_replace: list[SearchReplaceBlock] | None = None
    full_source: str | None = None
    request_id: str | None = None


class LaunchRunRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    track_id: str
    revision_id: str | None = None  # default: the track head
    seed: int | None = None  # default: chosen by the service
    request_id: str | None = None


class EvaluateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reference_run_id: str | None = None  # default: the track head's run(s)
    replicates: int | None = None  # pairs per round; default: the track policy
    request_id: str | None = None
    max_pairs: int | None = None  # default: the track policy


class PromoteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    run_id: str
    expected_head_revision: str | None = None  # compare-and-swap; default: the run's base
    evaluation_id: str | None = None  # the KEEP evaluation; default: the newest one found
    force: bool = False  # admin only: move the head without a KEEP ...
    reason: str = ""  # ... saying why (required with force)
