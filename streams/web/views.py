"""JSON views on the worker's web server (FIRSTLINE_WEB_PORT). Only these are served: faust's
own pages are switched off (streams/app.py).

  GET /queues/            live state of every queue this worker owns
  GET /queues/{queue}/    one queue (404 when this worker does not hold it)
  GET /health/            200 while every processor runs (503 once one failed); each
                          processor's figures, the role and the garbage collector's

With several workers, each answers for the queues of the partitions it owns.
"""

from __future__ import annotations

import gc
from functools import partial
from typing import Any

from faust.web import Request, Response, View

from streams.engine.consumer import App
from streams.engine.runner import Engine
from streams.processors.queue_stats import LiveQueues
from streams.settings import Settings
from streams.web.auth import guarded


def register(app: App, settings: Settings, engine: Engine, live: LiveQueues | None) -> None:
    """`live` is None in a sinks-only worker: it holds no queue state."""
    not_here = {"error": "this worker runs the sinks only (FIRSTLINE_ROLE=sinks)"}
    protect = partial(guarded, settings.web_token)  # 401 without the token (web/auth.py)

    @app.page("/queues/")
    @protect
    async def all_queues(web: View, request: Request) -> Response:
        if live is None:
            return web.json(not_here, status=404)
        return web.json({"queues": live.all()})

    @app.page("/queues/{queue}/")
    @protect
    async def one_queue(web: View, request: Request, queue: str) -> Response:
        if live is None:
            return web.json(not_here, status=404)
        found = live.view(queue)
        if found is None:
            return web.json({"error": f"queue {queue[:200]!r} is not known to this worker"}, status=404)
        return web.json(found)

    @app.page("/health/")
    @protect
    async def health(web: View, request: Request) -> Response:
        failed = dict(engine.failures)
        body: dict[str, Any] = {
            "status": "failed" if failed else "ok", "namespace": settings.namespace, "role": settings.role,
            "processors": {name: {"state": "failed" if name in failed else "running",
                                  **({"error": failed[name]} if name in failed else {}), **p.status()}
                           for name, p in engine.processors.items()},
            # streams/engine/collector.py: the collector's thresholds are a tuning knob
            "gc": {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count(),
                   "collections": [s["collections"] for s in gc.get_stats()]}}
        return web.json(body, status=503 if failed else 200)
