"""The process entry point's heap settling: after start-up, what start-up built is frozen out of the collector's
sight and young collections are rarer; a start-up that failed is left alone."""

import gc
from collections.abc import Iterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from fastapi import FastAPI

from esap_runtime.ops import YOUNG_COLLECTION_THRESHOLD, _SettlingServer, settle_heap


@pytest.fixture(autouse=True)
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settling_freezes_what_is_alive_and_raises_the_young_threshold() -> None:
    kept = [{"built": "at start-up"} for _ in range(100)]
    middle, old = gc.get_threshold()[1:]
    settle_heap()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, middle, old)


def _server(app: FastAPI) -> _SettlingServer:
    """Ready for ``startup()``, as uvicorn's own serve loop prepares it."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None)
    config.load()
    server = _SettlingServer(config)
    server.lifespan = config.lifespan_class(config)
    return server


async def test_the_server_settles_after_the_lifespan_started() -> None:
    seen_at_start: list[int] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        seen_at_start.append(gc.get_freeze_count())
        yield

    server = _server(FastAPI(lifespan=lifespan))
    await server.startup()
    try:
        assert seen_at_start == [0]  # not before the app's own start-up ran
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
    finally:
        await server.shutdown()


async def test_a_failed_start_up_is_not_settled() -> None:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database is not there")
        yield

    server = _server(FastAPI(lifespan=lifespan))
    with pytest.raises(SystemExit):
        await server.startup()
    assert gc.get_freeze_count() == 0
