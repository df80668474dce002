"""Tokens for the worker's web endpoints (FIRSTLINE_WEB_TOKEN, and FIRSTLINE_METRICS_TOKEN for
/metrics, each also from a file, `_FILE`). A request carries the token as `Authorization: Bearer
<token>` (scripts, Prometheus) or as the password of HTTP Basic with any user name (a browser:
it asks once, then sends it with the page's event stream too). Without a configured token the
endpoints are open, as on a developer's machine, and the worker says so when it starts.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

REALM = 'Basic realm="firstline", charset="UTF-8"'


def offered(header: str | None) -> bytes | None:
    """The token an Authorization header carries, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip().encode()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def allowed(header: str | None, token: bytes) -> bool:
    """Whether a request may pass: no token configured, or the one offered matches (compared in
    constant time)."""
    if not token:
        return True
    given = offered(header)
    return given is not None and hmac.compare_digest(given, token)


Handler = Callable[..., Awaitable[Any]]


def guarded(token: bytes, handler: Handler) -> Handler:
    """A faust page handler that answers 401 unless the request carries `token`."""

    async def check(web: Any, request: Any, **kwargs: Any) -> Any:
        if not allowed(request.headers.get("Authorization"), token):
            return web.json({"error": "this endpoint needs the worker's token"}, status=401,
                            headers={"WWW-Authenticate": REALM})
        return await handler(web, request, **kwargs)

    check.__name__ = getattr(handler, "__name__", "page")
    return check
