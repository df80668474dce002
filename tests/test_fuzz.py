"""The C decoder under coverage-guided fuzzing (atheris, libFuzzer) with AddressSanitizer and
UndefinedBehaviorSanitizer, differential against the Python decoder and fastavro, for a bounded
time on a copy of the kept corpus (tests/fuzz/; `make fuzz` runs it longer and keeps what adds
coverage)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from streams.settings import REPO_ROOT

RUN = REPO_ROOT / "tests" / "fuzz" / "run"


def fuzzer_ready() -> None:
    missing = [what for what, ok in (("clang", shutil.which("clang-14") or shutil.which("clang")),
                                     ("atheris", _importable("atheris"))) if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} not installed (.ci/run installs them)")
        pytest.skip(f"{', '.join(missing)} not installed")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.mark.slow
def test_the_c_decoder_survives_coverage_guided_fuzzing_under_sanitizers(tmp_path: Path) -> None:
    fuzzer_ready()
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO_ROOT / "tests" / "fuzz" / "corpus", corpus)
    seeds = len(list(corpus.iterdir()))
    result = subprocess.run([str(RUN)], env={**os.environ, "FUZZ_SECONDS": "40", "FUZZ_CORPUS": str(corpus)},
                            capture_output=True, text=True, timeout=400)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    # the C code is instrumented, so its coverage guides the search: new inputs were found
    assert re.search(r"Loaded 1 modules +\(\d+ inline 8-bit counters\)", out), out[-3000:]
    runs = int(re.search(r"stat::number_of_executed_units: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert runs > 10_000 and len(list(corpus.iterdir())) > seeds


@pytest.mark.slow
def test_the_harness_reports_a_decoder_that_disagrees() -> None:
    """A mismatch stops the fuzzer with the input saved: a kept input replays clean, and fails once
    the harness is given a wrong reference (FUZZ_BREAK_REFERENCE), so the differential check is
    live."""
    fuzzer_ready()
    seed = sorted((REPO_ROOT / "tests" / "fuzz" / "corpus").iterdir())[0]
    env = {**os.environ, "FUZZ_REPLAY": str(seed)}
    ok = subprocess.run([str(RUN)], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, (ok.stdout + ok.stderr)[-3000:]
    broken = subprocess.run([str(RUN)], env={**env, "FUZZ_BREAK_REFERENCE": "1"}, capture_output=True, text=True,
                            timeout=120)
    out = broken.stdout + broken.stderr
    assert broken.returncode != 0 and "AssertionError" in out and ", Python " in out, out[-3000:]
