"""Which processors a worker runs (FIRSTLINE_ROLE, FIRSTLINE_PROCESSORS); nothing here connects."""

from __future__ import annotations

import dataclasses

import pytest

from streams.app import create_app
from streams.settings import PROCESSORS, Settings
from tests.test_table_state import offline_settings


def test_every_processor_by_default_and_only_those_named(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    base = offline_settings(tmp_path)
    every = set(create_app(dataclasses.replace(base, role="processors")).engine.processors)
    assert every == set(PROCESSORS)
    named = dataclasses.replace(base, role="processors", processors="contact-summary,queue-stats")
    pipeline = create_app(named)
    assert set(pipeline.engine.processors) == {"contact-summary", "queue-stats"} and pipeline.live is not None
    alone = create_app(dataclasses.replace(base, role="all", processors="sms-verdicts"))
    assert {n for n in alone.engine.processors if n in PROCESSORS} == {"sms-verdicts"} and alone.live is None
    monkeypatch.setenv("FIRSTLINE_PROCESSORS", " contact-summary , router ")
    assert Settings.from_env().processors == "contact-summary,router"
    monkeypatch.setenv("FIRSTLINE_PROCESSORS", "contact-summary,nope")
    with pytest.raises(ValueError, match="'nope'"):
        Settings.from_env()
