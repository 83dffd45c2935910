from __future__ import annotations

from litestar import delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.paging import DEFAULT_LIMIT
from application.use_cases import rooms as uc
from domain.model import User
from entrypoints.http.deps import parse_id
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import CreateRoomBody, ModeBody, PatchRoomBody, RoomList, RoomOut, changes_of

Caller = NamedDependency[SkipValidation[User]]
WRITE_ERRORS = error_specs(400, 401, 404, 413, 415, 422)


@post("/rooms", tags=["rooms"], status_code=201, responses=error_specs(400, 401, 413, 415, 422))
async def create_room(
    user: Caller, data: CreateRoomBody, create_room: NamedDependency[SkipValidation[uc.CreateRoom]]
) -> RoomOut:
    room = await create_room.execute(
        user.id, name=data.name, goal=data.goal, mode=data.mode, manager_model=data.manager_model, caps=data.caps()
    )
    return RoomOut.of(room)


@get("/rooms", tags=["rooms"], responses=error_specs(401, 422))
async def list_rooms(
    user: Caller,
    list_rooms: NamedDependency[SkipValidation[uc.ListRooms]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> RoomList:
    rooms, next_cursor = await list_rooms.execute(user.id, limit=limit, cursor=cursor)
    return RoomList(items=[RoomOut.of(r) for r in rooms], next_cursor=next_cursor)


@get("/rooms/{room_id:str}", tags=["rooms"], responses=error_specs(401, 404))
async def get_room(user: Caller, room_id: str, get_room: NamedDependency[SkipValidation[uc.GetRoom]]) -> RoomOut:
    return RoomOut.of(await get_room.execute(user.id, parse_id(room_id)))


@patch("/rooms/{room_id:str}", tags=["rooms"], responses=WRITE_ERRORS)
async def update_room(
    user: Caller, room_id: str, data: PatchRoomBody, update_room: NamedDependency[SkipValidation[uc.UpdateRoom]]
) -> RoomOut:
    return RoomOut.of(await update_room.execute(user.id, parse_id(room_id), changes_of(data)))


@put("/rooms/{room_id:str}/mode", tags=["rooms"], responses=WRITE_ERRORS)
async def change_mode(
    user: Caller, room_id: str, data: ModeBody, change_mode: NamedDependency[SkipValidation[uc.ChangeMode]]
) -> RoomOut:
    return RoomOut.of(await change_mode.execute(user.id, parse_id(room_id), data.mode))


@delete("/rooms/{room_id:str}", tags=["rooms"], status_code=204, responses=error_specs(401, 404))
async def delete_room(user: Caller, room_id: str, delete_room: NamedDependency[SkipValidation[uc.DeleteRoom]]) -> None:
    await delete_room.execute(user.id, parse_id(room_id))
