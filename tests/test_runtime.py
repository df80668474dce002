"""The worker's garbage-collector tuning (streams/engine/collector.py): thresholds and the freezing of
survivors in a fresh interpreter each (the collector's state is the process's), and the pacer
running in a real worker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.settings import Settings
from tests.support import Worker, free_port, isolated_settings, wait_until

PROBE = ("import gc, sys; from streams.engine.collector import tune_garbage_collector as t; "
         "t(int(sys.argv[1])); print(*gc.get_threshold(), gc.get_freeze_count() > 0)")

# A reference cycle that is already garbage when the pacer freezes, and an object that survives.
PACER_PROBE = """
import gc, sys, weakref
from streams.engine.collector import CollectionPacer

now = [0.0]
pacer = CollectionPacer(float(sys.argv[1]), clock=lambda: now[0])

class Node:
    pass

def garbage_cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

survivor = Node()
cycle = garbage_cycle()
pacer.tick()
walked = any(o is survivor for o in gc.get_objects())  # what collections see
gc.collect()
kept_while_frozen = cycle() is not None
now[0] = 1_000.0
pacer.tick()
print(walked, kept_while_frozen, cycle() is None, pacer.freezes, pacer.full_passes)
"""


def thresholds_after(young: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(young)], check=True, capture_output=True, text=True)
    return out.stdout.split()


def pacer_run(full_interval_s: float) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PACER_PROBE, str(full_interval_s)], check=True,
                         capture_output=True, text=True)
    return out.stdout.split()


def test_young_threshold_is_raised_and_start_up_objects_frozen() -> None:
    assert thresholds_after(50_000) == ["50000", "10", "10", "True"]


def test_zero_keeps_pythons_thresholds() -> None:
    assert thresholds_after(0) == ["700", "10", "10", "True"]


def test_survivors_are_frozen_and_a_full_pass_finds_cycles_frozen_with_them() -> None:
    # Frozen: no collection walks the survivor, nor finds the cycle; the full pass due after
    # 600 s (the clock says 1,000) unfreezes and collects it.
    assert pacer_run(600) == ["False", "True", "True", "2", "1"]


def test_without_full_passes_a_frozen_cycle_stays() -> None:
    assert pacer_run(0) == ["False", "True", "False", "2", "0"]


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings.from_env()
    assert (defaults.gc_young_threshold, defaults.gc_freeze_interval_s, defaults.gc_full_interval_s) == (
        500_000, 1.0, 600.0)
    monkeypatch.setenv("FIRSTLINE_GC_YOUNG_THRESHOLD", "0")
    monkeypatch.setenv("FIRSTLINE_GC_FREEZE_INTERVAL_S", "0")
    monkeypatch.setenv("FIRSTLINE_GC_FULL_INTERVAL_S", "30")
    changed = Settings.from_env()
    assert (changed.gc_young_threshold, changed.gc_freeze_interval_s, changed.gc_full_interval_s) == (0, 0.0, 30.0)


def test_a_worker_freezes_survivors_and_runs_its_full_passes(tmp_path: Path) -> None:
    port = free_port()
    settings = isolated_settings(tmp_path, web_port=port, gc_freeze_interval_s=0.2, gc_full_interval_s=1.0)
    create_topics(settings)

    def gc_figures() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as r:
            return json.loads(r.read())["gc"]

    with Worker(settings) as worker:
        assert worker.alive()
        before = gc_figures()
        # An idle worker allocates far fewer than the young threshold: full collections come
        # from the pacer alone (one per second here).
        after = wait_until(lambda: (g := gc_figures())["collections"][2] - before["collections"][2] >= 2 and g,
                           timeout=30, what="two paced full collections", worker=worker)
        assert "Full garbage collection:" in worker.log()  # with what it found and the pause
        assert after["frozen"] > 0

        # what the worker waits on, for an operator facing a worker that does nothing
        worker.proc.send_signal(signal.SIGUSR1)
        dump = wait_until(lambda: "SIGUSR1: asyncio tasks" in (log := worker.log()) and log, timeout=10,
                          what="the SIGUSR1 dump", worker=worker)
        state = dump[dump.index("SIGUSR1: engine state"):]
        assert all(f"'{name}': {{'buffered'" in state for name in ("contact-summary", "sms-verdicts", "router"))
        assert "'flow_control': True" in state and ".contact-events[0]': {'read'" in state
        assert "Stack for <Task" in dump
        assert worker.alive()
