from __future__ import annotations

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.use_cases.users import RegisterUser
from application.use_cases.wallet import ShowCredits
from domain.model import User
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import CreateUserBody, UserCreated, UserOut


# Security is additive across layers: the empty requirement `{}` documents that sign-up needs no key.
@post(
    "/users",
    tags=["users"],
    status_code=201,
    security=[{}],
    opt={"public": True},
    responses=error_specs(400, 403, 409, 413, 415, 422),
)
async def create_user(
    data: CreateUserBody, register_user: NamedDependency[SkipValidation[RegisterUser]]
) -> UserCreated:
    registration = await register_user.execute(data.email, data.display_name)
    return UserCreated(user=UserOut.of(registration.user), api_key=registration.api_key)


@get("/me", tags=["users"], responses=error_specs(401))
async def me(
    user: NamedDependency[SkipValidation[User]], show_credits: NamedDependency[SkipValidation[ShowCredits]]
) -> UserOut:
    return UserOut.of(user, await show_credits.execute(user.id))
