"""`firstline simulate` for one day with the built-in profile, through the whole pipeline: the
stored statistics and reports reproduce the seed's headline figures (../shared/DESIGN.md), and
the run prints its progress."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from tests.support import Worker, firstline, isolated_settings, query, wait_until

DAY_START = "2025-11-24T00:00"
DAY0_MS = 1_763_942_400_000


@pytest.mark.kafka
def test_one_simulated_day_reproduces_the_seed_figures(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    create_topics(settings)
    with Worker(settings) as worker:
        done = firstline(settings, "simulate", "--profile", "seed", "--hours", "24", "--seed", "1",
                         "--start", DAY_START, timeout=300)
        out = done.stdout.decode()
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        progress = [line for line in out.splitlines() if line.strip().startswith("simulated")]
        assert len(progress) >= 24, out  # one line per simulated hour, and the last
        contacts = int(re.search(r"contacts\s+(\d+)", progress[-1]).group(1))  # type: ignore[union-attr]

        def day_record() -> tuple | None:
            stored = query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
            offered = query(settings, "SELECT COUNT(*) FROM contact_summaries WHERE first_queue = 'voice-general'")[0][0]
            rows = query(settings, "SELECT offered, answered, asa_ms, aht_ms FROM queue_statistics WHERE "
                                   "\"window\" = 'DAY' AND region = '*' AND queue = 'voice-general' "
                                   "AND window_start = %s", (DAY0_MS,))
            return rows[0] if stored == contacts and rows and rows[0][0] == offered else None

        offered, answered, asa_ms, aht_ms = wait_until(day_record, timeout=300, interval=1,
                                                       what="the simulated day in storage", worker=worker)
        # Published as fast as the simulator goes, so the worker works through a backlog: no
        # outcome may reach the statistics after its minute closed (a heartbeat that overtook
        # facts once made thousands of them late).
        late = query(settings, "SELECT COALESCE(SUM(late_events), 0) FROM queue_statistics WHERE \"window\" = 'DAY'")
        assert late[0][0] == 0

    assert answered > 8_000
    assert asa_ms / 1000 == pytest.approx(90, rel=0.05)  # "an operator answers in 1.5 minutes"
    duration_s = query(settings, "SELECT AVG(duration_ms) FROM contact_summaries WHERE channel = 'VOICE' "
                                 "AND status = 'ENDED'")[0][0] / 1000
    assert duration_s == pytest.approx(256, rel=0.05)  # "4 min 16 s in all"

    def report(*args: str) -> list[dict]:
        result = firstline(settings, "report", *args, "--json")
        assert result.returncode == 0, result.stderr.decode()
        return [json.loads(line) for line in result.stdout.decode().splitlines()]

    (fcr,) = report("fcr", "--by", "day")
    assert 0.97 < fcr["fcr"] < 0.98  # "> 97 % solved at the first line" (97.1 % with seed 1)
    (csat,) = report("csat", "--by", "day")
    assert csat["top_box"] == pytest.approx(0.95, abs=0.02)  # "about 95 % give 5 of 5"
    (mix,) = report("mix", "--period", "day")
    assert 0.30 <= mix["online_share"] <= 0.40 and mix["contacts"] == contacts
