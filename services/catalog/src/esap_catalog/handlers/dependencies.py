"""What every route may ask for: the running factory, the one way routes reach the catalog's services.

Depends on FastAPI and the factory only.
"""

from typing import Annotated

from fastapi import Depends, Request

from esap_catalog.factory import Factory


async def get_factory(request: Request) -> Factory:
    factory: Factory = request.app.state.factory
    return factory


FactoryDep = Annotated[Factory, Depends(get_factory)]
