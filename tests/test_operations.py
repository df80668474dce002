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


def by_hand(rows: list[tuple], threshold_s: dict[str, int]) -> dict[str, dict]:
    """Per-channel figures of stored contact summaries, worked out here from the definitions (not
    with streams/reports): rows are (contact_id, channel, status, queued_at, answered_at, wait_ms,
    handle_time_ms, duration_ms, csat_score, subscriber_id, reason, line, created_at)."""
    figures: dict[str, dict] = {}
    for channel in {r[1] for r in rows}:
        mine = [r for r in rows if r[1] == channel]
        t = threshold_s[channel] * 1000
        answered = [r for r in mine if r[4] is not None]
        abandoned = [r for r in mine if r[2] == "ABANDONED"]
        ended = [r for r in mine if r[2] == "ENDED"]
        late = [r for r in abandoned if r[5] > t]
        offered = [r for r in mine if r[3] is not None]
        scores = [r[8] for r in mine if r[8] is not None]
        first = resolved = 0
        eligible = [r for r in rows if r[4] is not None and r[9] and r[10]]
        for r in eligible:
            if r[1] != channel:
                continue
            same = [o for o in eligible if (o[9], o[10]) == (r[9], r[10]) and o is not r]
            earlier = any(r[12] - 7 * 86_400_000 <= o[12] < r[12] or (o[12] == r[12] and o[0] < r[0]) for o in same)
            later = any(r[12] < o[12] <= r[12] + 7 * 86_400_000 or (o[12] == r[12] and o[0] > r[0]) for o in same)
            if not earlier and r[2] == "ENDED":  # one still being handled counts once it ends
                first += 1
                resolved += r[11] <= 1 and not later
        figures[channel] = {
            "contacts": len(mine), "offered": len(offered), "answered": len(answered), "abandoned": len(abandoned),
            "asa_s": sum(r[5] for r in answered) / len(answered) / 1000 if answered else None,
            "service_level": (sum(r[5] <= t for r in answered) / (len(answered) + len(late))
                              if answered or late else None),
            "abandonment": len(abandoned) / len(offered) if offered else None,
            "aht_s": sum(r[6] for r in ended) / len(ended) / 1000 if ended else None,
            "duration_s": sum(r[7] for r in ended) / len(ended) / 1000 if ended else None,
            "fcr": resolved / first if first else None,
            "csat_top_box": sum(s == 5 for s in scores) / len(scores) if scores else None,
        }
    return figures


@pytest.mark.kafka
def test_the_main_job_reports_what_storage_holds(tmp_path: Path) -> None:
    """`firstline run` as a user runs it (a shorter day, as fast as possible): every finished
    contact of the run reaches storage, the report's figures are those of the stored summaries
    worked out by hand, the SMS half has every verdict, and the alerts raised are named."""
    from streams.settings import DEFAULT_SL_THRESHOLD_S
    from tests.support import free_port, query, wait_until

    settings = isolated_settings(tmp_path, web_port=free_port())
    report = tmp_path / "report.json"
    result = firstline(settings, "run", "--hours", "4", "--speedup", "0", "--scale", "0.3", "--sms-hours", "0.5",
                       "--timeout", "200", "--report-json", str(report), timeout=500)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert f"wallboard: http://127.0.0.1:{settings.web_port}/wallboard/" in out
    figures = json.loads(report.read_text())
    assert figures["stored"] == figures["finished"] > 100
    rows = query(settings, "SELECT contact_id, channel, status, queued_at, answered_at, wait_ms, handle_time_ms, "
                           "duration_ms, csat_score, subscriber_id, reason, line, created_at FROM contact_summaries "
                           "WHERE contact_id LIKE %s", (figures["prefix"] + "%",))
    expected = by_hand(rows, DEFAULT_SL_THRESHOLD_S)
    reported = {c["channel"]: c for c in figures["channels"]}
    assert set(reported) == set(expected) and len(expected) >= 4
    for channel, want in expected.items():
        for name, value in want.items():
            assert reported[channel][name] == pytest.approx(value, abs=1e-9), (channel, name)
    voice = reported["VOICE"]
    assert f"{voice['contacts']:,}" in out and f"{voice['service_level']:.1%}" in out  # the printed table
    # ... and agree with the stored queue statistics (day windows of all regions, every queue of
    # the channel): the same abandons; a leg offered per contact queued and per transfer.
    transfers = dict(query(settings, "SELECT channel, SUM(transfers) FROM contact_summaries GROUP BY channel"))

    def statistics_agree() -> bool:
        stats = {c: (int(o), int(a)) for c, o, a in query(
            settings, "SELECT channel, SUM(offered), SUM(abandoned) FROM queue_statistics "
                      "WHERE \"window\" = 'DAY' AND region = '*' GROUP BY channel")}
        return stats == {c: (r["offered"] + int(transfers[c]), r["abandoned"]) for c, r in reported.items()}

    wait_until(statistics_agree, timeout=60, what="the stored day statistics to agree with the report")
    # the SMS half: every message produced got its verdict, and the report says what was done
    produced = int(re.search(r"published ([\d,]+) SMS", out).group(1).replace(",", ""))
    judged, delivered, blocked = (int(x.replace(",", "")) for x in re.search(
        r"SMS: ([\d,]+) messages, ([\d,]+) delivered, ([\d,]+) blocked", out).groups())
    assert judged == produced == delivered + blocked and blocked > 0, out
    assert "MASS_MAILING" in out and "campaign c" in out and "paid subscriptions:" in out, out
    assert figures["alerts"].get("MASS_MAILING") == 1 and figures["alerts"].get("SPAM_CAMPAIGN") == 1
    assert re.search(r"alerts raised during the run: .*MASS_MAILING 1", out)
    assert "FIRSTLINE_PSEUDONYM_KEY is not set" in (settings.data_dir / "worker.log").read_text()
    # the live router routed the simulated day as its ACD did: one decision for each of the ACD's
    routing = figures["routing"]
    assert routing["group"].startswith("simulated-") and routing["simulated"] > 0
    assert sum(routing["decisions"].values()) == routing["simulated"], routing
    assert {"QUEUED", "OFFERED", "ASSIGNED"} <= set(routing["decisions"]), routing
    assert f"the simulated ACD made {routing['simulated']:,}" in out


@pytest.mark.kafka
def test_months_of_growth_show_in_the_monthly_mix(tmp_path: Path) -> None:
    """--months 6 at a small scale: online contacts grow by about the seed's 35 % in half a year,
    shown by the run and by `firstline report mix --period month`."""
    settings = isolated_settings(tmp_path)
    result = firstline(settings, "run", "--months", "6", "--scale", "0.01", "--sms-hours", "0", "--timeout", "300",
                       timeout=600)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "channel mix by month" in out
    mix = firstline(settings, "report", "mix", "--period", "month", "--json")
    months = [json.loads(line) for line in mix.stdout.decode().splitlines()]
    full = months[1:-1]  # the first and the last calendar month are cut by the run's start and end
    assert len(full) >= 4
    growth = full[-1]["online"] / full[0]["online"]
    expected = 1.35 ** ((len(full) - 1) / 6)  # the seed's +35 % per half year, compounded monthly
    assert expected / 1.12 < growth < expected * 1.12, [(m["period"], m["online"]) for m in months]
    voice = full[-1]["VOICE"] / full[0]["VOICE"]
    assert 0.9 < voice < 1.1


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


def test_compose_file_is_valid_and_pins_the_local_kafka_version(tmp_path: Path) -> None:
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
    settings_py = (REPO_ROOT / "streams" / "settings.py").read_text()
    known = set(re.findall(r"\"((?:FIRSTLINE|KAFKA)_[A-Z_]+)\"", settings_py))
    secret = set(re.findall(r"_secret\(\"([A-Z_]+)\"", settings_py))  # these take NAME_FILE too
    known |= {name + "_FILE" for name in secret}
    # no secret in the file: each comes from a file make-secrets wrote, mounted under /run/secrets
    assert "firstline:firstline@" not in compose and "POSTGRES_PASSWORD:" not in compose
    made = tmp_path / "secrets"
    subprocess.run([str(REPO_ROOT / "deploy" / "secrets" / "make-secrets")], check=True,
                   env={**os.environ, "FIRSTLINE_COMPOSE_SECRETS": str(made)})
    assert oct(made.stat().st_mode & 0o777) == "0o700"
    files = {p.name: p.read_text() for p in made.iterdir()}
    assert len(files) == 5 and all(len(v) == 48 for v in files.values()) and len(set(files.values())) == 5
    declared = yaml.safe_load(result.stdout)["secrets"]
    assert set(declared) == set(files)
    for name in ("topics", "worker", "simulator"):
        env = services[name]["environment"]
        assert set(env) <= known, (name, set(env) - known)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        mounted = {s["source"] if isinstance(s, dict) else s for s in services[name]["secrets"]}
        for key, value in env.items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/") and value.rsplit("/", 1)[1] in mounted, (name, key)
        local = {k: str(made / str(v).rsplit("/", 1)[1]) if k.endswith("_FILE") else str(v) for k, v in env.items()}
        with mock.patch.dict(os.environ, local):
            settings = Settings.from_env()
        assert settings.database_url == f"postgresql://firstline:{files['postgres_password']}@postgres:5432/firstline"
        assert settings.web_token == files["web_token"].encode() and settings.web_host == "0.0.0.0"
        assert settings.metrics_token == files["metrics_token"].encode()
        assert settings.pseudonym_key == files["pseudonym_key"].encode()
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    web_port = int(services["worker"]["environment"]["FIRSTLINE_WEB_PORT"])
    assert any(str(p).endswith(f":{web_port}/tcp") or str(p).endswith(f":{web_port}") for p in published["worker"])
    # Prometheus scrapes every worker at that port; Grafana gets the datasource and the dashboard.
    scrape = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert "metrics_token" in {s if isinstance(s, str) else s["source"] for s in services["prometheus"]["secrets"]}
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


@pytest.mark.kafka
def test_ctrl_c_stops_the_main_job_and_it_reports(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) in the middle of the simulated day: publishing stops, the contacts finished
    so far reach storage, and the report is printed; the worker is stopped."""
    import signal
    import sys
    import time

    from tests.support import query, settings_env, wait_until

    settings = isolated_settings(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "run", "--hours", "24", "--speedup", "600",
                             "--scale", "0.2", "--sms-hours", "0", "--timeout", "120"], cwd=REPO_ROOT,
                            env={**os.environ, **settings_env(settings)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        lines.append(line)
        if "simulating 24 h" in line:
            break
    # part of the day published and stored (the whole of it takes 144 s at 600 x)
    wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries WHERE status = 'ENDED'")[0][0] > 50,
               timeout=120, what="some of the day in storage")
    proc.send_signal(signal.SIGINT)
    out = "".join(lines) + proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, out
    assert "stopping: no more records are published" in out and "(stopped early)" in out
    finished = int(re.search(r"contacts, ([\d,]+) finished", out).group(1).replace(",", ""))
    assert 0 < finished and f"storage holds {finished:,} of the {finished:,} finished contacts" in out
    assert "per channel, from storage" in out and "VOICE" in out
    worker_pids = re.findall(r"worker: pid (\d+)", out)
    assert worker_pids and all(not Path(f"/proc/{pid}").exists() for pid in worker_pids)
