"""All configuration, read from environment variables with defaults for a local run.

Every knob of the project lives here so that the README's configuration table has one source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from streams.kafka_auth import KafkaAuth

REPO_ROOT = Path(__file__).resolve().parent.parent


# Service-level threshold T by channel, seconds: 20 s for calls (the industry's 80/20), a minute
# for live text channels, an hour for social posts, a day for e-mail.
DEFAULT_SL_THRESHOLD_S = {"VOICE": 20, "CHAT": 60, "MESSENGER": 60, "APP": 60, "SOCIAL": 3600, "EMAIL": 86400}


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _secret(name: str, default: bytes) -> bytes:
    """A secret from NAME, or from the file NAME_FILE names (as Docker secrets are mounted)."""
    path = os.environ.get(name + "_FILE")
    if path:
        try:
            return Path(path).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"{name}_FILE: cannot read the file ({exc.strerror})") from None
    raw = os.environ.get(name)
    return raw.encode() if raw else default


ROLES = ("all", "processors", "sinks")
# The stream processors a worker of the "all" or "processors" role can run (FIRSTLINE_PROCESSORS).
PROCESSORS = ("contact-summary", "agent-state", "queue-stats", "sms-verdicts", "sms-campaigns", "complaints",
              "subscriptions", "provider-abuse", "router")


def redact_url(url: str) -> str:
    """`scheme://user:secret@host/...` -> `scheme://user:***@host/...`; also a `password=`
    query parameter."""
    import re

    url = re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&;]*", r"\1***", url)


def with_password(url: str, password: bytes) -> str:
    """A PostgreSQL URL with the password from FIRSTLINE_DATABASE_PASSWORD(_FILE) put in, so that
    the URL itself need not hold it (compose secrets); logs show only redact_url()."""
    if not password or not url.startswith(("postgresql://", "postgres://")):
        return url
    from urllib.parse import quote

    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if at else ""
    return f"{scheme}://{user}:{quote(password.decode(), safe='')}@{host}"


def _env_names(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _env(name, default)
    unknown = [n for n in raw.split(",") if n.strip() and n.strip() not in choices]
    if unknown:
        raise ValueError(f"{name}: unknown {', '.join(map(repr, unknown))}; known: {', '.join(choices)}")
    return ",".join(n.strip() for n in raw.split(",") if n.strip())


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _env(name, default)
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    # How the Kafka clients connect (streams/kafka_auth.py): plaintext, or TLS and SASL/SCRAM.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: bytes = field(default=b"", repr=False)
    kafka_ssl_ca_file: str = ""
    kafka_ssl_cert_file: str = ""
    kafka_ssl_key_file: str = ""
    kafka_ssl_check_hostname: bool = True
    # Prefix of every topic and the faust application id; tests give each run its own.
    namespace: str = "firstline"
    schemas_dir: Path = REPO_ROOT / "schemas"
    data_dir: Path = REPO_ROOT / ".local"
    database_url: str = field(default_factory=lambda: f"sqlite:///{REPO_ROOT / '.local' / 'firstline.db'}")
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    # Tokens of the web endpoints (streams/web/auth.py); empty: open. /metrics takes its own when
    # set, else the web token.
    web_token: bytes = field(default=b"", repr=False)
    metrics_token: bytes = field(default=b"", repr=False)
    # Partition count of the keyed input topics (contacts, agents, SMS); 1 for small set-ups.
    partitions: int = 6
    replication_factor: int = 1
    # Batching of the stream processors: at most this many events per batch.
    batch_max: int = 1000
    # A batch is what arrives within this long of its first event (see streams/engine/channel.py).
    batch_linger_s: float = 0.02
    # The stateful processors make their outputs and state durable together this often (see
    # streams/engine/channel.py): a key changed by many batches costs one record per checkpoint.
    checkpoint_interval_s: float = 2.0
    commit_interval_s: float = 1.0
    log_level: str = "info"
    # Event-time windows close this long after their end; later outcomes are counted as late.
    allowed_lateness_s: float = 120.0
    # A contact's state is forgotten once its newest event is this much older than the newest
    # event processed (event time); older events of a forgotten contact are dead-lettered.
    contact_state_retention_h: float = 168.0
    # Open windows are re-emitted at most this often (wall clock) while they change.
    stats_update_interval_s: float = 5.0
    # A source partition fully processed and with nothing new for this long (wall clock) is idle
    # and stops holding back the closing of windows; a lagging one never does.
    watermark_idle_s: float = 10.0
    # Service-level threshold T per queue, "queue=seconds,..."; queues not named use their
    # channel's default below.
    sl_thresholds: str = ""
    # What a worker process runs: "all", or "processors" / "sinks" to split one worker's load
    # over two processes (the sinks then form a consumer group of their own).
    role: str = "all"
    # Which of the role's stream processors this worker runs, "contact-summary,queue-stats,...";
    # empty: every one (PROCESSORS). To move a busy processor to workers of its own.
    processors: str = ""
    # The worker's garbage collector looks for cycles every this many new container objects
    # (Python's default is 700; see streams/engine/collector.py). 0 keeps Python's default.
    gc_young_threshold: int = 500_000
    # What survived is frozen this often (0: never), and every gc_full_interval_s all of it is
    # unfrozen for one full collection (0: never), see streams/engine/collector.py.
    gc_freeze_interval_s: float = 1.0
    gc_full_interval_s: float = 600.0
    # Encode and decode in C where the extension was built (streams/codec/native.py); False: the
    # compiled Python functions, as where no C compiler was found.
    native_codec: bool = True
    # Copies of other workers' tables a worker keeps up to date, so that a failover need not
    # replay a changelog. 0 as in Kafka Streams (num.standby.replicas): faust keeps a standby by
    # reading every changelog record of the other workers one by one, which cost two workers on a
    # backlog about a third of their CPU (see the README's Benchmark).
    standby_replicas: int = 0
    # Bounds on input (streams/engine/limits.py): a raw input record, each string field (free
    # text: text, comment), each array or map; and the distinct events one contact may have.
    max_record_bytes: int = 65_536
    max_string_chars: int = 256
    max_text_chars: int = 4_096
    max_array_items: int = 64
    max_events_per_contact: int = 1_000
    # Event times further than this ahead of the wall clock are dead-lettered.
    max_future_skew_s: float = 300.0
    # No output is larger (key and value): below the topics' max.message.bytes (1 MiB by default)
    # and the producer's batch size; what would be is dead-lettered instead.
    max_output_bytes: int = 500_000
    # How much of a refused record's value its dead letter keeps (with its length and SHA-256).
    dead_letter_value_bytes: int = 16_384
    # A row the database refuses for its content is tried this often, then dead-lettered.
    sink_max_tries: int = 3
    # Subscriber protection (streams/protection/): the key of the pseudonyms of subscriber numbers
    # (from FIRSTLINE_PSEUDONYM_KEY or the file FIRSTLINE_PSEUDONYM_KEY_FILE names; the default
    # is for development only and says so at start-up).
    pseudonym_key: bytes = field(default=b"firstline-development-key", repr=False)
    # Mass mailing: more than this many distinct recipients within the window, unless the sender
    # is a registered A2P sender (comma-separated, canonical: numbers or names).
    sms_mass_limit: int = 200
    sms_mass_window_s: float = 600.0
    sms_a2p_senders: str = ""
    # Content score: blocks alone at or above block_at; at or above assist_at it halves the mass-
    # mailing limit. The model file (None: the one shipped, streams/protection/content_model.npz).
    sms_content_block_at: float = 0.97
    sms_content_assist_at: float = 0.7
    sms_model: str = ""
    # Campaigns: near-duplicate texts from at least min_senders senders and min_messages texts
    # within the window, each at least min_chars long (normalised), with links or a mean content
    # score of at least min_score.
    campaign_window_s: float = 3600.0
    campaign_min_senders: int = 5
    campaign_min_messages: int = 10
    campaign_min_chars: int = 30
    campaign_min_score: float = 0.5
    # Complaints: this many distinct subscribers complaining about one sender within the window
    # block it operator-wide and raise an alert.
    complaint_threshold: int = 3
    complaint_window_s: float = 7 * 86400.0
    # Paid subscriptions: the time a subscriber has to confirm a request; a provider refused this
    # many times within the abuse window raises an alert.
    subscription_confirm_s: float = 600.0
    provider_abuse_limit: int = 20
    provider_abuse_window_s: float = 3600.0
    # A second alert of one kind about one subject within this time is not raised.
    alert_cooldown_s: float = 3600.0
    # The live router's configuration (streams/routing/config.py); its clock ticks this often
    # (wall clock) while an offer or an escalation is pending, as a TICK on routing-requests.
    routing_config: Path = REPO_ROOT / "deploy" / "routing.toml"
    routing_tick_s: float = 0.5
    # The wallboard's tile colours, warn:alert per figure (streams/web/board.py): the service
    # level of the last 15 minutes, the oldest wait in multiples of the queue's threshold T, the
    # abandonment rate of the last 15 minutes.
    wallboard_levels: str = "sl=0.8:0.7,oldest_wait=1:3,abandonment=0.05:0.1"
    # The service-level alerts (streams/alerting/service_rules.py) use the wallboard's levels (SL
    # below warn, oldest wait and abandonment beyond alert) and these: closed minutes in a row,
    # the fewest contacts a window needs to count, and the volume rule's spread and weeks.
    alert_rules: str = "sl_windows=3,min_offered=5,volume_factor=3,volume_weeks=2"
    # Alert delivery (streams/sinks/webhook_sink.py): "name=url,..." and the signing secrets
    # ("whsec_..." separated by spaces, the current first; from FIRSTLINE_WEBHOOK_SECRETS or the file
    # FIRSTLINE_WEBHOOK_SECRETS_FILE names); per try a timeout, then a backoff from backoff_s
    # doubling up to backoff_max_s with full jitter, max_tries in all; an endpoint is disabled
    # after disable_after alerts in a row failed, and probed with one alert probe_after_s later (0: not).
    webhooks: str = ""
    webhook_secrets: bytes = field(default=b"", repr=False)
    webhook_timeout_s: float = 5.0
    webhook_max_tries: int = 5
    webhook_backoff_s: float = 0.5
    webhook_backoff_max_s: float = 30.0
    webhook_disable_after: int = 3
    webhook_probe_after_s: float = 300.0

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = Path(_env("FIRSTLINE_DATA_DIR", str(REPO_ROOT / ".local")))
        return cls(
            bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            kafka_security_protocol=_env("FIRSTLINE_KAFKA_SECURITY_PROTOCOL", cls.kafka_security_protocol).upper(),
            kafka_sasl_mechanism=_env("FIRSTLINE_KAFKA_SASL_MECHANISM", cls.kafka_sasl_mechanism).upper(),
            kafka_sasl_username=_env("FIRSTLINE_KAFKA_SASL_USERNAME", ""),
            kafka_sasl_password=_secret("FIRSTLINE_KAFKA_SASL_PASSWORD", b""),
            kafka_ssl_ca_file=_env("FIRSTLINE_KAFKA_SSL_CA_FILE", ""),
            kafka_ssl_cert_file=_env("FIRSTLINE_KAFKA_SSL_CERT_FILE", ""),
            kafka_ssl_key_file=_env("FIRSTLINE_KAFKA_SSL_KEY_FILE", ""),
            kafka_ssl_check_hostname=_env("FIRSTLINE_KAFKA_SSL_CHECK_HOSTNAME", "1") not in ("0", "false", "no"),
            namespace=_env("FIRSTLINE_NAMESPACE", cls.namespace),
            schemas_dir=Path(_env("FIRSTLINE_SCHEMAS_DIR", str(REPO_ROOT / "schemas"))),
            data_dir=data_dir,
            database_url=with_password(_env("FIRSTLINE_DATABASE_URL", f"sqlite:///{data_dir / 'firstline.db'}"),
                                       _secret("FIRSTLINE_DATABASE_PASSWORD", b"")),
            web_port=_env_int("FIRSTLINE_WEB_PORT", cls.web_port),
            web_host=_env("FIRSTLINE_WEB_HOST", cls.web_host),
            web_token=_secret("FIRSTLINE_WEB_TOKEN", b""),
            metrics_token=_secret("FIRSTLINE_METRICS_TOKEN", b""),
            partitions=_env_int("FIRSTLINE_PARTITIONS", cls.partitions),
            replication_factor=_env_int("FIRSTLINE_REPLICATION_FACTOR", cls.replication_factor),
            batch_max=_env_int("FIRSTLINE_BATCH_MAX", cls.batch_max),
            batch_linger_s=_env_float("FIRSTLINE_BATCH_LINGER_MS", cls.batch_linger_s * 1000) / 1000,
            checkpoint_interval_s=_env_float("FIRSTLINE_CHECKPOINT_INTERVAL_MS",
                                             cls.checkpoint_interval_s * 1000) / 1000,
            commit_interval_s=_env_float("FIRSTLINE_COMMIT_INTERVAL_S", cls.commit_interval_s),
            log_level=_env("FIRSTLINE_LOG_LEVEL", cls.log_level),
            allowed_lateness_s=_env_float("FIRSTLINE_ALLOWED_LATENESS_S", cls.allowed_lateness_s),
            contact_state_retention_h=_env_float("FIRSTLINE_CONTACT_STATE_RETENTION_H",
                                                 cls.contact_state_retention_h),
            stats_update_interval_s=_env_float("FIRSTLINE_STATS_UPDATE_INTERVAL_S", cls.stats_update_interval_s),
            sl_thresholds=_env("FIRSTLINE_SL_THRESHOLDS", cls.sl_thresholds),
            watermark_idle_s=_env_float("FIRSTLINE_WATERMARK_IDLE_S", cls.watermark_idle_s),
            role=_env_choice("FIRSTLINE_ROLE", cls.role, ROLES),
            processors=_env_names("FIRSTLINE_PROCESSORS", cls.processors, PROCESSORS),
            gc_young_threshold=_env_int("FIRSTLINE_GC_YOUNG_THRESHOLD", cls.gc_young_threshold),
            gc_freeze_interval_s=_env_float("FIRSTLINE_GC_FREEZE_INTERVAL_S", cls.gc_freeze_interval_s),
            gc_full_interval_s=_env_float("FIRSTLINE_GC_FULL_INTERVAL_S", cls.gc_full_interval_s),
            native_codec=_env_int("FIRSTLINE_NATIVE_CODEC", int(cls.native_codec)) != 0,
            standby_replicas=_env_int("FIRSTLINE_STANDBY_REPLICAS", cls.standby_replicas),
            max_record_bytes=_env_int("FIRSTLINE_MAX_RECORD_BYTES", cls.max_record_bytes),
            max_string_chars=_env_int("FIRSTLINE_MAX_STRING_CHARS", cls.max_string_chars),
            max_text_chars=_env_int("FIRSTLINE_MAX_TEXT_CHARS", cls.max_text_chars),
            max_array_items=_env_int("FIRSTLINE_MAX_ARRAY_ITEMS", cls.max_array_items),
            max_events_per_contact=_env_int("FIRSTLINE_MAX_EVENTS_PER_CONTACT", cls.max_events_per_contact),
            max_future_skew_s=_env_float("FIRSTLINE_MAX_FUTURE_SKEW_S", cls.max_future_skew_s),
            max_output_bytes=_env_int("FIRSTLINE_MAX_OUTPUT_BYTES", cls.max_output_bytes),
            dead_letter_value_bytes=_env_int("FIRSTLINE_DEAD_LETTER_VALUE_BYTES", cls.dead_letter_value_bytes),
            sink_max_tries=_env_int("FIRSTLINE_SINK_MAX_TRIES", cls.sink_max_tries),
            pseudonym_key=_secret("FIRSTLINE_PSEUDONYM_KEY", cls.pseudonym_key),
            sms_mass_limit=_env_int("FIRSTLINE_SMS_MASS_LIMIT", cls.sms_mass_limit),
            sms_mass_window_s=_env_float("FIRSTLINE_SMS_MASS_WINDOW_S", cls.sms_mass_window_s),
            sms_a2p_senders=_env("FIRSTLINE_SMS_A2P_SENDERS", cls.sms_a2p_senders),
            sms_content_block_at=_env_float("FIRSTLINE_SMS_CONTENT_BLOCK_AT", cls.sms_content_block_at),
            sms_content_assist_at=_env_float("FIRSTLINE_SMS_CONTENT_ASSIST_AT", cls.sms_content_assist_at),
            sms_model=_env("FIRSTLINE_SMS_MODEL", cls.sms_model),
            campaign_window_s=_env_float("FIRSTLINE_CAMPAIGN_WINDOW_S", cls.campaign_window_s),
            campaign_min_senders=_env_int("FIRSTLINE_CAMPAIGN_MIN_SENDERS", cls.campaign_min_senders),
            campaign_min_messages=_env_int("FIRSTLINE_CAMPAIGN_MIN_MESSAGES", cls.campaign_min_messages),
            campaign_min_chars=_env_int("FIRSTLINE_CAMPAIGN_MIN_CHARS", cls.campaign_min_chars),
            campaign_min_score=_env_float("FIRSTLINE_CAMPAIGN_MIN_SCORE", cls.campaign_min_score),
            complaint_threshold=_env_int("FIRSTLINE_COMPLAINT_THRESHOLD", cls.complaint_threshold),
            complaint_window_s=_env_float("FIRSTLINE_COMPLAINT_WINDOW_S", cls.complaint_window_s),
            subscription_confirm_s=_env_float("FIRSTLINE_SUBSCRIPTION_CONFIRM_S", cls.subscription_confirm_s),
            provider_abuse_limit=_env_int("FIRSTLINE_PROVIDER_ABUSE_LIMIT", cls.provider_abuse_limit),
            provider_abuse_window_s=_env_float("FIRSTLINE_PROVIDER_ABUSE_WINDOW_S", cls.provider_abuse_window_s),
            alert_cooldown_s=_env_float("FIRSTLINE_ALERT_COOLDOWN_S", cls.alert_cooldown_s),
            routing_config=Path(_env("FIRSTLINE_ROUTING_CONFIG", str(cls.routing_config))),
            routing_tick_s=_env_float("FIRSTLINE_ROUTING_TICK_S", cls.routing_tick_s),
            wallboard_levels=_env("FIRSTLINE_WALLBOARD_LEVELS", cls.wallboard_levels),
            alert_rules=_env("FIRSTLINE_ALERT_RULES", cls.alert_rules),
            webhooks=_env("FIRSTLINE_WEBHOOKS", cls.webhooks),
            webhook_secrets=_secret("FIRSTLINE_WEBHOOK_SECRETS", b""),
            webhook_timeout_s=_env_float("FIRSTLINE_WEBHOOK_TIMEOUT_S", cls.webhook_timeout_s),
            webhook_max_tries=_env_int("FIRSTLINE_WEBHOOK_MAX_TRIES", cls.webhook_max_tries),
            webhook_backoff_s=_env_float("FIRSTLINE_WEBHOOK_BACKOFF_S", cls.webhook_backoff_s),
            webhook_backoff_max_s=_env_float("FIRSTLINE_WEBHOOK_BACKOFF_MAX_S", cls.webhook_backoff_max_s),
            webhook_disable_after=_env_int("FIRSTLINE_WEBHOOK_DISABLE_AFTER", cls.webhook_disable_after),
            webhook_probe_after_s=_env_float("FIRSTLINE_WEBHOOK_PROBE_AFTER_S", cls.webhook_probe_after_s),
        )

    def sl_threshold_ms(self, queue: str, channel: str) -> int:
        threshold = self._sl_overrides_ms.get(queue)
        return threshold if threshold is not None else DEFAULT_SL_THRESHOLD_S.get(channel, 20) * 1000

    @cached_property
    def _sl_overrides_ms(self) -> dict[str, int]:
        # Parsed once: the statistics processor asks for every fact it counts.
        overrides: dict[str, int] = {}
        for item in self.sl_thresholds.split(","):
            name, _, seconds = item.partition("=")
            if name.strip() and seconds.strip() and name.strip() not in overrides:
                overrides[name.strip()] = int(float(seconds) * 1000)
        return overrides

    @property
    def redacted_database_url(self) -> str:
        """The database URL without its password, for logs and output."""
        return redact_url(self.database_url)

    @property
    def a2p_senders(self) -> frozenset[str]:
        from streams.protection.addresses import canonical

        return frozenset(canonical(s) for s in self.sms_a2p_senders.split(",") if s.strip())

    @cached_property
    def kafka_auth(self) -> KafkaAuth:
        """The Kafka clients' connection security; checked when first asked for."""
        return KafkaAuth(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username,
                         self.kafka_sasl_password, self.kafka_ssl_ca_file, self.kafka_ssl_cert_file,
                         self.kafka_ssl_key_file, self.kafka_ssl_check_hostname)

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
