"""The requests of the admin use-cases (tracks, agents, harnesses); the agents'
requests (edits, runs, evaluations, promotions) are in service.domain.models."""

from __future__ import annotations

import msgspec

from service.domain.models import AgentQuota, BudgetKind, DecisionPolicy, Role


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


class CreateHarnessRequest(msgspec.Struct, kw_only=True):
    """Register a prepared harness directory readable by the server (admin only).

    The files are copied into the artifact store and verified against the manifest.
    `demo=True` builds (or reuses) the demo harness instead of reading `path`.
    """

    path: str | None = None
    demo: bool = False
    description: str = ""
    request_id: str | None = None
