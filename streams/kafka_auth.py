"""How every Kafka client of firstline connects: plaintext on a local broker, or TLS and SASL
(SCRAM-SHA-512 by default) on a real one, from the settings (FIRSTLINE_KAFKA_SECURITY_PROTOCOL,
_SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD or _SASL_PASSWORD_FILE, _SSL_CA_FILE,
_SSL_CERT_FILE and _SSL_KEY_FILE for a client certificate, _SSL_CHECK_HOSTNAME).

One description, turned into the options of each client library the project uses: faust's broker
credentials, aiokafka's and kafka-python's keyword arguments. The password is never part of a repr
or a log line; a configuration that would send it in clear is refused.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaAuth:
    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: bytes = field(default=b"", repr=False)
    ca_file: str = ""  # PEM of the authorities to trust; empty: the system's
    cert_file: str = ""  # a client certificate (PEM), for brokers that ask for one
    key_file: str = ""
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"FIRSTLINE_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, "
                             f"got {self.protocol!r}")
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                raise ValueError(f"FIRSTLINE_KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, "
                                 f"got {self.mechanism!r}")
            if not self.username or not self.password:
                raise ValueError("SASL needs FIRSTLINE_KAFKA_SASL_USERNAME and FIRSTLINE_KAFKA_SASL_PASSWORD "
                                 "(or FIRSTLINE_KAFKA_SASL_PASSWORD_FILE)")
            if self.mechanism == "PLAIN" and not self.tls:
                raise ValueError("SASL PLAIN without TLS would send the password in clear: use SASL_SSL")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both FIRSTLINE_KAFKA_SSL_CERT_FILE and _KEY_FILE")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def describe(self) -> str:
        """For logs and the CLI: how, and as whom, never the secret."""
        who = f" as {self.username} ({self.mechanism})" if self.sasl else ""
        return f"{self.protocol}{who}"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file or None)
        context.check_hostname = self.check_hostname
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments of the clients: aiokafka's (AIOKafkaConsumer, AIOKafkaProducer) and
        kafka-python's (KafkaProducer, KafkaConsumer, KafkaAdminClient) take the same names."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password.decode())
        return options

    # named for the library at each call site, should the two ever part
    aiokafka = kafka_python = options

    def faust_credentials(self) -> Any:
        """faust's `broker_credentials`, or None for plaintext."""
        from faust.auth import SASLCredentials, SSLCredentials

        if self.sasl:
            credentials = SASLCredentials(username=self.username, password=self.password.decode(),
                                          ssl_context=self.ssl_context, mechanism=self.mechanism)
            return credentials
        if self.tls:
            return SSLCredentials(self.ssl_context)
        return None
