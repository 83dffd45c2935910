from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.paging import DEFAULT_LIMIT
from application.use_cases.wallet import ListTransactions
from domain.model import User
from entrypoints.http.admin_schemas import Transactions
from entrypoints.http.errors import error_specs


@get("/credits/transactions", tags=["credits"], responses=error_specs(401, 422))
async def credit_transactions(
    user: NamedDependency[SkipValidation[User]],
    list_transactions: NamedDependency[SkipValidation[ListTransactions]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Transactions:
    items, next_cursor = await list_transactions.execute(user.id, limit=limit, cursor=cursor)
    return Transactions(items=items, next_cursor=next_cursor)
