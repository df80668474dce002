"""The access each role needs on the bus, as Kafka ACLs, and nothing more.

- producer (a channel system, the SMS centre, an operator's `firstline block`): write and describe
  the input topics.
- worker (`firstline worker`): everything in its namespace: read and write every catalogue topic,
  its tables' changelogs and faust's own topics (all named `<ns>.` or `<ns>-`), create them, and
  its consumer groups (`<ns>`, `<ns>-sinks`).
- reader (a downstream team): read and describe the output topics, with consumer groups whose
  names begin with the reader's prefix (`downstream-` unless told). The dead-letter topic is not
  among them: it holds the raw bad records, for operators.

`firstline acls apply ROLE PRINCIPAL` grants one; `firstline acls show ROLE PRINCIPAL` prints them.
The broker must enforce ACLs (kafkactl's secure broker does: StandardAuthorizer, nothing allowed
that an ACL does not allow).
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.settings import Settings
from streams.topics import CATALOGUE

ROLES = ("producer", "worker", "reader")
DOWNSTREAM_GROUPS = "downstream-"


@dataclass(frozen=True)
class Grant:
    """One ACL: allow `operation` on a resource, named exactly or by prefix."""

    resource: str  # TOPIC, GROUP
    name: str
    prefixed: bool
    operation: str  # READ, WRITE, DESCRIBE, CREATE, DESCRIBE_CONFIGS, DELETE

    def __str__(self) -> str:
        how = "prefix" if self.prefixed else "name"
        return f"ALLOW {self.operation:<16} {self.resource:<6} {how:<6} {self.name}"


def grants(settings: Settings, role: str, group_prefix: str = DOWNSTREAM_GROUPS) -> list[Grant]:
    """What `role` may do in this namespace."""
    ns = settings.namespace
    if role == "producer":
        return [Grant("TOPIC", s.full_name(settings), False, op)
                for s in CATALOGUE if s.role == "input" for op in ("WRITE", "DESCRIBE")]
    if role == "reader":
        out = [Grant("TOPIC", s.full_name(settings), False, op)
               for s in CATALOGUE if s.role == "output" and s.name != "dead-letters" for op in ("READ", "DESCRIBE")]
        return out + [Grant("GROUP", group_prefix, True, "READ")]
    if role == "worker":
        topic_ops = ("READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS")
        return ([Grant("TOPIC", ns + sep, True, op) for sep in ".-" for op in topic_ops]
                + [Grant("GROUP", ns, False, op) for op in ("READ", "DESCRIBE")]
                + [Grant("GROUP", ns + "-", True, op) for op in ("READ", "DESCRIBE")])
    raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")


def apply(settings: Settings, role: str, principal: str, group_prefix: str = DOWNSTREAM_GROUPS) -> int:
    """Create the role's ACLs for `principal` ('User:name'); returns how many were asked for
    (creating one that exists is no error)."""
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePattern, ResourceType)

    if not principal.startswith("User:"):
        principal = "User:" + principal
    wanted = grants(settings, role, group_prefix)
    acls = [ACL(principal=principal, host="*", operation=ACLOperation[g.operation],
                permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(ResourceType[g.resource], g.name,
                                                 ACLResourcePatternType.PREFIXED if g.prefixed
                                                 else ACLResourcePatternType.LITERAL))
            for g in wanted]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, client_id=f"{settings.namespace}-acls",
                             request_timeout_ms=30_000, **settings.kafka_auth.kafka_python())
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    failed = result.get("failed", []) if isinstance(result, dict) else []
    if failed:
        raise RuntimeError(f"the broker refused {len(failed)} ACL(s): {failed[0][1]}")
    return len(acls)
