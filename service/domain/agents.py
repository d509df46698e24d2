"""Agents: created by an admin (or bootstrapped by the CLI), each with one API key
and a quota. An agent reads only itself; `me` names the caller."""

from __future__ import annotations

import msgspec
import structlog

from service.domain import ids
from service.domain.context import Context
from service.domain.errors import InvalidArgument, PermissionDenied
from service.domain.limits import MAX_NAME_CHARS
from service.domain.models import Agent, AgentQuota, CreatedAgent, Principal, Role, utcnow
from service.domain.requests import CreateAgentRequest

log = structlog.get_logger(__name__)


def _create_agent(ctx: Context, name: str, role: Role, quota: AgentQuota | None) -> CreatedAgent:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidArgument(
            f"name must be 1 to {MAX_NAME_CHARS} characters",
            details={"field": "name", "length": len(name)},
        )
    quota = quota or msgspec.structs.replace(ctx.settings.default_agent_quota)
    if quota.max_queued_runs < 0 or not quota.max_compute_seconds >= 0:
        raise InvalidArgument(
            "quotas must not be negative",
            details={
                "field": "quota",
                "max_queued_runs": quota.max_queued_runs,
                "max_compute_seconds": quota.max_compute_seconds,
            },
        )
    api_key = ids.new_api_key()
    agent = Agent(id=ids.new_id("agent"), name=name, role=role, quota=quota, create_time=utcnow())
    ctx.meta.create_agent(agent, ids.hash_api_key(api_key))
    log.info("agent.created", agent_id=agent.id, role=role.value)
    return CreatedAgent(agent=agent, api_key=api_key)


def bootstrap_admin(ctx: Context, name: str = "admin") -> CreatedAgent:
    """Create an admin agent without a caller (CLI `loopy keys create`, `loopy up`)."""
    return _create_agent(ctx, name, Role.ADMIN, None)


def create_agent(ctx: Context, principal: Principal, req: CreateAgentRequest) -> CreatedAgent:
    """Admin only."""
    ctx.require_admin(principal, "create agents")
    return _create_agent(ctx, req.name, req.role, req.quota)


# The agent id that names the caller on every transport (`GET /v1/agents/me`).
ME = "me"


def get_agent(ctx: Context, principal: Principal, agent_id: str) -> Agent:
    """An agent may read itself (`me`); admins anyone."""
    if agent_id == ME:
        agent_id = principal.agent_id
    if agent_id != principal.agent_id and not principal.is_admin:
        raise PermissionDenied(
            "an agent may read only itself",
            details={"agent_id": agent_id, "caller_agent_id": principal.agent_id},
        )
    return ctx.agent(agent_id)
