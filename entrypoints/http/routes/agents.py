from __future__ import annotations

from litestar import delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.use_cases import agents as uc
from domain.model import User
from entrypoints.http.deps import parse_id
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import AgentList, AgentOut, CreateAgentBody, PatchAgentBody, changes_of

Caller = NamedDependency[SkipValidation[User]]
BASE = "/rooms/{room_id:str}/agents"


@post(BASE, tags=["agents"], status_code=201, responses=error_specs(400, 401, 404, 409, 413, 415, 422))
async def add_agent(
    user: Caller, room_id: str, data: CreateAgentBody, add_agent: NamedDependency[SkipValidation[uc.AddAgent]]
) -> AgentOut:
    agent = await add_agent.execute(
        user.id,
        parse_id(room_id),
        agent_key=data.agent_key,
        name=data.name,
        model=data.model,
        role_prompt=data.role_prompt,
        position=data.position,
    )
    return AgentOut.of(agent)


@get(BASE, tags=["agents"], responses=error_specs(401, 404))
async def list_agents(
    user: Caller, room_id: str, list_agents: NamedDependency[SkipValidation[uc.ListAgents]]
) -> AgentList:
    return AgentList(items=[AgentOut.of(a) for a in await list_agents.execute(user.id, parse_id(room_id))])


@patch(BASE + "/{agent_id:str}", tags=["agents"], responses=error_specs(400, 401, 404, 413, 415, 422))
async def update_agent(
    user: Caller,
    room_id: str,
    agent_id: str,
    data: PatchAgentBody,
    update_agent: NamedDependency[SkipValidation[uc.UpdateAgent]],
) -> AgentOut:
    agent = await update_agent.execute(user.id, parse_id(room_id), parse_id(agent_id), changes_of(data))
    return AgentOut.of(agent)


@delete(BASE + "/{agent_id:str}", tags=["agents"], status_code=204, responses=error_specs(401, 404))
async def remove_agent(
    user: Caller, room_id: str, agent_id: str, remove_agent: NamedDependency[SkipValidation[uc.RemoveAgent]]
) -> None:
    await remove_agent.execute(user.id, parse_id(room_id), parse_id(agent_id))
