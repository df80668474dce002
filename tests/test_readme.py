"""The README stays true to the code: every topic, every setting, the broker version."""

from __future__ import annotations

import re
import subprocess

from streams.settings import REPO_ROOT
from streams.topics import CATALOGUE

README = (REPO_ROOT / "README.md").read_text()


def test_every_topic_is_in_the_readme_with_its_key_and_schema() -> None:
    for spec in CATALOGUE:
        row = next((line for line in README.splitlines() if line.startswith(f"| `firstline.{spec.name}`")), None)
        assert row, spec.name
        assert f"`{spec.key_field}`" in row and spec.value_schema.rsplit(".", 1)[1] in row


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    settings = (REPO_ROOT / "streams" / "settings.py").read_text()
    names = set(re.findall(r"\"((?:FIRSTLINE|KAFKA)_[A-Z_]+)\"", settings))
    names |= {n + "_FILE" for n in re.findall(r"_secret\(\"(FIRSTLINE_[A-Z_]+)\"", settings)}
    names |= set(re.findall(r"\$\{(FIRSTLINE_[A-Z_]+)", (REPO_ROOT / "deploy" / "kafka" / "kafkactl").read_text()))
    reference = (REPO_ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(n for n in names if n not in reference)
    assert not missing, missing
    # the README's settings (some shortened to `_WINDOW_S` after their full name) are real
    in_readme = set(re.findall(r"`((?:FIRSTLINE|KAFKA)_[A-Z_]*[A-Z])`", README))
    unknown = sorted(n for n in in_readme if n not in names and n not in reference)
    assert not unknown, unknown


def test_the_broker_version_is_the_one_kafkactl_runs() -> None:
    version = subprocess.run([str(REPO_ROOT / "deploy" / "kafka" / "kafkactl"), "version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert f"Apache Kafka {version}" in README


def test_the_two_commands_are_the_makefile_targets() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "make run" in README and "make test" in README
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_the_readme_is_for_users_and_short() -> None:
    assert len(README.encode()) <= 20_000, f"README.md has {len(README.encode())} bytes; design goes to docs/design.md"
    for doc in ("docs/design.md", "docs/benchmarks.md", "CHANGELOG.md"):
        assert (REPO_ROOT / doc).exists(), doc
