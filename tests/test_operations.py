"""What an operator runs: the main job, topic set-up, schema checks, the compose file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from streams.settings import REPO_ROOT, Settings
from streams.topics import CATALOGUE
from tests.support import firstline, isolated_settings


@pytest.mark.kafka
def test_run_stores_every_generated_contact_and_reports_per_channel(tmp_path: Path) -> None:
    import re

    from tests.support import query

    settings = isolated_settings(tmp_path)
    for run, stored in ((1, 120), (2, 240)):  # safe to run again: the second run adds its own
        result = firstline(settings, "run", "--contacts", "120", "--sms-hours", "0.5", "--timeout", "150",
                           timeout=300)
        out = result.stdout.decode()
        assert result.returncode == 0, out + result.stderr.decode()
        assert "stored 120/120 finished contacts" in out, run
        assert "VOICE" in out and "ASA" in out
        assert query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] == stored
        # the SMS half: every message produced got its verdict, and the report says what was done
        produced = int(re.search(r"produced ([\d,]+) SMS", out).group(1).replace(",", ""))
        judged, delivered, blocked = (int(x.replace(",", "")) for x in re.search(
            r"SMS: ([\d,]+) messages, ([\d,]+) delivered, ([\d,]+) blocked", out).groups())
        assert judged == produced == delivered + blocked and blocked > 0, out
        assert "MASS_MAILING" in out and "campaign c" in out and "paid subscriptions:" in out, out
        if run == 1:  # the detections are new only once: the second run's senders are blocked already
            assert re.search(r"alerts: .*MASS_MAILING 1", out) and "SPAM_CAMPAIGN 1" in out, out
    assert query(settings, "SELECT COUNT(*) FROM subscription_outcomes")[0][0] > 0
    # on the development pseudonym key the worker says so
    assert "FIRSTLINE_PSEUDONYM_KEY is not set" in (settings.data_dir / "worker.log").read_text()


@pytest.mark.kafka
def test_topics_create_is_idempotent_and_list_shows_the_catalogue(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    first = firstline(settings, "topics", "create")
    assert first.returncode == 0 and f"created {len(CATALOGUE)} topic(s)" in first.stdout.decode()
    again = firstline(settings, "topics", "create")
    assert again.returncode == 0 and "created 0 topic(s)" in again.stdout.decode()
    listing = firstline(settings, "topics", "list").stdout.decode()
    for spec in CATALOGUE:
        line = next(l for l in listing.splitlines() if l.startswith(spec.full_name(settings)))
        assert f"{spec.partition_count(settings)} partitions" in line
        assert spec.config()["cleanup.policy"] in line


def test_schemas_check_passes_on_the_repository() -> None:
    result = firstline(Settings(), "schemas", "check")
    assert result.returncode == 0, result.stdout.decode()


def test_compose_file_is_valid_and_pins_the_local_kafka_version() -> None:
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    version = subprocess.run([str(REPO_ROOT / "deploy" / "kafka" / "kafkactl"), "version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert f"apache/kafka:{version}" in compose
    if shutil.which("docker-compose") is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (.ci/run installs it)")
        pytest.skip("docker-compose is not installed")
    result = subprocess.run(["docker-compose", "-f", str(REPO_ROOT / "docker-compose.yml"), "config"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import yaml

    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"kafka", "postgres", "topics", "worker", "simulator", "prometheus", "grafana"}
    # Only the wallboard and Grafana are published, and only on the host's loopback.
    published = {name: svc.get("ports", []) for name, svc in services.items() if svc.get("ports")}
    assert set(published) == {"worker", "grafana"}
    for name, ports in published.items():
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), (name, port)
    # Every setting given to firstline's containers is one the settings module reads, with a value it takes.
    known = set(re.findall(r"\"((?:FIRSTLINE|KAFKA)_[A-Z_]+)\"", (REPO_ROOT / "streams" / "settings.py").read_text()))
    for name in ("topics", "worker", "simulator"):
        env = services[name]["environment"]
        assert set(env) <= known, (name, set(env) - known)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        with mock.patch.dict(os.environ, {k: str(v) for k, v in env.items()}):
            settings = Settings.from_env()
        assert settings.database_url.startswith("postgresql://") and settings.web_host == "0.0.0.0"
    web_port = int(services["worker"]["environment"]["FIRSTLINE_WEB_PORT"])
    assert any(str(p).endswith(f":{web_port}/tcp") or str(p).endswith(f":{web_port}") for p in published["worker"])
    # Prometheus scrapes every worker at that port; Grafana gets the datasource and the dashboard.
    scrape = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    sd = scrape["scrape_configs"][0]["dns_sd_configs"][0]
    assert sd["names"] == ["worker"] and sd["port"] == web_port
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
    mounts = " ".join(services["prometheus"]["volumes"] + services["grafana"]["volumes"])
    for path in ("deploy/prometheus/prometheus.yml", "deploy/grafana/provisioning", "deploy/grafana/dashboards"):
        assert str(REPO_ROOT / path) in mounts, path
    datasource = yaml.safe_load((REPO_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = json.loads((REPO_ROOT / "deploy/grafana/dashboards/firstline.json").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in dashboard["panels"])


def test_spam_commands_write_evaluate_and_train_on_a_labelled_file(tmp_path: Path) -> None:
    """`firstline spam corpus|evaluate|train` as a user runs them, on a file the test writes (the
    generated corpus, plus lines a user's file may have: a duplicate, a blank line)."""
    import re

    from streams.protection.content_model import SHIPPED, ContentModel

    corpus = tmp_path / "labelled.txt"
    made = firstline(Settings(), "spam", "corpus", str(corpus), "--messages", "3000", "--seed", "4")
    assert made.returncode == 0, made.stderr.decode()
    lines = corpus.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3000 and all(re.match(r"^(spam|ham)\t.+", line) for line in lines)
    with corpus.open("a", encoding="utf-8") as f:
        f.write(lines[0] + "\n\n")
    ev = firstline(Settings(), "spam", "evaluate", str(corpus), "--train-fraction", "0.3", "--seed", "2")
    out = ev.stdout.decode()
    assert ev.returncode == 0, out + ev.stderr.decode()
    unique = len({line for line in lines})
    assert re.search(rf"messages\s+{unique}\b", out), out  # duplicates removed before the split
    for figure in ("spam caught", "ham blocked", "accuracy", "precision", "recall", "MCC"):
        assert figure in out, figure
    assert float(re.search(r"MCC\s+([\d.]+)", out).group(1)) > 0.9
    model_path = tmp_path / "model.npz"
    trained = firstline(Settings(), "spam", "train", str(corpus), "--out", str(model_path))
    assert trained.returncode == 0, trained.stderr.decode()
    assert f"FIRSTLINE_SMS_MODEL={model_path}" in trained.stdout.decode()
    spam, ham = ContentModel.load(model_path).scores(["Вы выиграли приз! Заберите на bit.ly/x", "Буду дома в семь"])
    assert spam > 0.5 > ham
    # without --out: into the data directory, never over the model the package ships
    settings = isolated_settings(tmp_path)
    shipped = SHIPPED.read_bytes()
    again = firstline(settings, "spam", "train", str(corpus))
    assert again.returncode == 0 and (settings.data_dir / "content_model.npz").exists()
    assert SHIPPED.read_bytes() == shipped
    bad = tmp_path / "bad.txt"
    bad.write_text("spam\tok\nmaybe\tnot a label\n", encoding="utf-8")
    refused = firstline(Settings(), "spam", "evaluate", str(bad))
    assert refused.returncode != 0 and "line 2" in (refused.stdout + refused.stderr).decode()
