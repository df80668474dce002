"""JSON views on the worker's web server (faust web, FIRSTLINE_WEB_PORT).

  GET /queues            live state of every queue this worker owns
  GET /queues/{queue}    one queue (404 when this worker does not hold it)
  GET /health            200 once the worker runs; its role and garbage-collector figures

With several workers, each answers for the queues of the partitions it owns.
"""

from __future__ import annotations

import gc
from typing import Any

from faust.web import Request, Response, View

from streams.app import Pipeline
from streams.processors.queue_stats import LiveQueues


def register(pipeline: Pipeline, live: LiveQueues | None) -> None:
    """`live` is None in a sinks-only worker: it holds no queue state."""
    app = pipeline.app
    not_here = {"error": "this worker runs the sinks only (FIRSTLINE_ROLE=sinks)"}

    @app.page("/queues/")
    async def all_queues(web: View, request: Request) -> Response:
        if live is None:
            return web.json(not_here, status=404)
        return web.json({"queues": live.all()})

    @app.page("/queues/{queue}/")
    async def one_queue(web: View, request: Request, queue: str) -> Response:
        if live is None:
            return web.json(not_here, status=404)
        found = live.view(queue)
        if found is None:
            return web.json({"error": f"queue {queue!r} is not known to this worker"}, status=404)
        return web.json(found)

    @app.page("/health/")
    async def health(web: View, request: Request) -> Response:
        body: dict[str, Any] = {"status": "ok", "namespace": pipeline.settings.namespace,
                                "role": pipeline.settings.role,
                                # streams/runtime.py: the collector's thresholds are a tuning knob
                                "gc": {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count(),
                                       "collections": [s["collections"] for s in gc.get_stats()]}}
        return web.json(body)
