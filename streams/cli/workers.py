"""Worker processes for the main job: started as `firstline worker`, ready when they log it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from streams.settings import Settings


def start_worker(settings: Settings, extra_env: dict[str, str] | None = None,
                 log_path: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(extra_env or {})}
    if log_path:
        open(log_path, "wb").close()  # a fresh log per run: readiness is read from it
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=env,
                            stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT)


def wait_until_ready(worker: subprocess.Popen[bytes], log_path: str, timeout_s: float = 120) -> bool:
    """Wait for the worker's "Worker ready" line: recovery done, stream partitions sought.

    Publishing before that works, but faust may skip records that arrive during its start-up
    until the next restart (see streams/engine/consumer.py and the README's known issues)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        with open(log_path, "rb") as log:
            if b"Worker ready" in log.read():
                return True
        time.sleep(0.2)
    return False


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
