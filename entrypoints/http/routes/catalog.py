from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.use_cases.catalog import GetPricing, ListModels, ListPricing
from domain.model import User
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import ModelList, PricingList, PricingVersionOut

Caller = NamedDependency[SkipValidation[User]]


@get("/models", tags=["models"], responses=error_specs(401))
async def models(user: Caller, list_models: NamedDependency[SkipValidation[ListModels]]) -> ModelList:
    return ModelList(items=await list_models.execute())


@get("/pricing", tags=["models"], responses=error_specs(401))
async def pricing(user: Caller, list_pricing: NamedDependency[SkipValidation[ListPricing]]) -> PricingList:
    active, versions = await list_pricing.execute()
    return PricingList(active_version=active, items=[PricingVersionOut.of(v) for v in versions])


@get("/pricing/{version:str}", tags=["models"], responses=error_specs(401, 404))
async def pricing_version(
    user: Caller, version: str, get_pricing: NamedDependency[SkipValidation[GetPricing]]
) -> PricingVersionOut:
    return PricingVersionOut.of(await get_pricing.execute(version))
