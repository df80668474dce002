"""The web endpoints' token check (streams/web/auth.py), by hand; the endpoints themselves are
checked on a real worker in test_metrics.py and test_wallboard.py."""

from __future__ import annotations

import base64

from streams.web.auth import allowed, offered


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_token_as_bearer_or_as_basics_password() -> None:
    assert offered("Bearer abc") == b"abc" and offered("bearer  abc ") == b"abc"
    assert offered(basic("anyone", "abc")) == b"abc" and offered(basic("", "a:b")) == b"a:b"
    for bad in (None, "", "Token abc", "Basic not-base64!", "Basic " + base64.b64encode(b"no-colon").decode()):
        assert not offered(bad)
    assert allowed("Bearer abc", b"abc") and allowed(basic("ops", "abc"), b"abc")
    assert not allowed("Bearer abd", b"abc") and not allowed(None, b"abc") and not allowed("Bearer ", b"abc")
    assert not allowed(basic("abc", ""), b"abc")  # the user name is not the token
    assert allowed(None, b"") and allowed("Bearer anything", b"")  # no token configured: open
