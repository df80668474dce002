from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.settings import Settings
from tests import support
from tests.support import isolated_settings


@pytest.fixture(scope="session", autouse=True)
def topics_deleted_at_the_end() -> Iterator[None]:
    """The session's topics on the local broker go when it ends (see support.NAMESPACES); those
    on brokers a test started and stopped itself went with them."""
    yield
    try:
        support.delete_own_namespaces(Settings.from_env().bootstrap_servers)
    except Exception as exc:  # the results stand; a leftover topic costs only disk
        warnings.warn(f"could not delete the test topics: {exc}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh namespace whose topics exist on the real broker."""
    s = isolated_settings(tmp_path)
    create_topics(s)
    return s


@pytest.fixture
def postgres_url() -> str:
    """A fresh schema-less database URL, or a skip where no server is configured (CI sets one)."""
    url = os.environ.get("FIRSTLINE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("FIRSTLINE_TEST_POSTGRES_URL must be set in CI")
        pytest.skip("FIRSTLINE_TEST_POSTGRES_URL not set")
    import psycopg

    # Each test gets its own PostgreSQL schema, dropped afterwards.
    schema = f"t{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
