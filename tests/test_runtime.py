"""The worker's garbage-collector tuning (streams/runtime.py), in a fresh interpreter each."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streams.settings import Settings

PROBE = ("import gc, sys; from streams.runtime import tune_garbage_collector as t; "
         "t(int(sys.argv[1])); print(*gc.get_threshold(), gc.get_freeze_count() > 0)")


def thresholds_after(young: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(young)], check=True, capture_output=True, text=True)
    return out.stdout.split()


def test_young_threshold_is_raised_and_start_up_objects_frozen() -> None:
    assert thresholds_after(50_000) == ["50000", "10", "10", "True"]


def test_zero_keeps_pythons_thresholds() -> None:
    assert thresholds_after(0) == ["700", "10", "10", "True"]


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().gc_young_threshold == 500_000
    monkeypatch.setenv("FIRSTLINE_GC_YOUNG_THRESHOLD", "0")
    assert Settings.from_env().gc_young_threshold == 0
