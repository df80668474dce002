"""Every private name of faust, mode and aiokafka the engine touches, in one list.

The engine replaces faust's per-record fetch-and-ack path, its table recovery and its producer's
per-record sends (see consumer.py, channel.py, producer.py, tables.py); those reach into names
that no release promises to keep. Each is listed here with where it lives and why it is used,
and `check()` runs at start-up (streams/app.py) and in the tests: an upgrade that removes or
renames one fails with the package, its version and the name, instead of deep inside a batch.
faust-streaming, mode-streaming and aiokafka are pinned exactly in pyproject.toml for the same
reason. A test also checks that the engine's source uses no private name missing from this list.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import version


class IncompatibleDependency(RuntimeError):
    """A private name the engine relies on is gone from an installed package."""


@dataclass(frozen=True)
class PrivateName:
    package: str  # the distribution, for its version in the error
    owner: str  # "module:Class" or "module"
    name: str
    why: str


FAUST_606 = "https://github.com/faust-streaming/faust/issues/606 (fix proposed: PR #707)"
FAUST_604 = "https://github.com/robinhood/faust/issues/604 and faust-streaming/faust#527"
FAUST_221 = "https://github.com/faust-streaming/faust/issues/221 (PR #223: generation ids)"
RECOVERY = "faust's Recovery takes changelog records one by one through its conductor"
SEND = "aiokafka's send() costs a future and a partitioner call per record; send_batch takes a built batch"

_C = "faust.transport.consumer:Consumer"
_AC = "faust.transport.drivers.aiokafka:Consumer"
_R = "faust.tables.recovery:Recovery"

NAMES: tuple[PrivateName, ...] = (
    # The commit rule: records are acknowledged in bulk, and one missing at the head holds the commit.
    PrivateName("faust-streaming", _C, "_committed_offset", FAUST_606),
    PrivateName("faust-streaming", _C, "_acked", FAUST_606),
    PrivateName("faust-streaming", _C, "_acked_index", FAUST_606),
    PrivateName("faust-streaming", _C, "_n_acked", "bulk acknowledgement counts toward commit_every as ack() does"),
    PrivateName("faust-streaming", _C, "_gap", "compacted gaps: faust commits over them, so does the watchdog"),
    PrivateName("faust-streaming", _C, "_add_gap", "the fetch loop records gaps as faust's does"),
    PrivateName("faust-streaming", _C, "_new_offset", FAUST_606),
    PrivateName("faust-streaming", _C, "_waiting_for_ack", "wakes a commit waiting for acknowledgements"),
    PrivateName("faust-streaming", _C, "_commit_every", "the fetch loop commits as faust's getmany does"),
    # The fetch loop: a batch channel takes a partition's fetched records in one step.
    PrivateName("faust-streaming", _AC, "_drain_messages", FAUST_604),
    PrivateName("faust-streaming", _C, "_wait_next_records", FAUST_604),
    PrivateName("faust-streaming", _C, "_read_offset", FAUST_221),
    PrivateName("faust-streaming", _C, "_to_message", "records of non-batch topics take faust's own path"),
    PrivateName("faust-streaming", _C, "_get_active_partitions", "a full channel pauses its own partitions"),
    PrivateName("faust-streaming", _C, "_buffered_partitions", "faust's on_buffer_full bookkeeping"),
    PrivateName("faust-streaming", _C, "_paused_partitions", "partitions paused by faust stay paused"),
    PrivateName("faust-streaming", _C, "_active_partitions", "what a worker fetches, in its SIGUSR1 dump (diagnostics.py)"),
    PrivateName("mode-streaming", "mode.services:Service", "_stopped", "the fetcher's stop flag, as faust reads it"),
    # Recovery: changelog records applied in bulk to the memory store.
    PrivateName("faust-streaming", _R, "_set_recovery_ended", RECOVERY),
    PrivateName("faust-streaming", "faust.tables.base:Collection", "_to_key", RECOVERY),
    PrivateName("faust-streaming", "faust.tables.base:Collection", "_to_value", RECOVERY),
    PrivateName("faust-streaming", "faust.stores.memory:Store", "_key_partition",
                "keys written by a processor are noted with their partition, so a rebalance drops them"),
    # The producer: record batches built and sent per partition.
    PrivateName("faust-streaming", "faust.transport.drivers.aiokafka:Producer", "_ensure_producer", SEND),
    PrivateName("aiokafka", "aiokafka.client:AIOKafkaClient", "_wait_on_metadata", SEND),
    PrivateName("aiokafka", "aiokafka.producer.message_accumulator:BatchBuilder", "_builder", SEND),
    PrivateName("aiokafka", "aiokafka.producer.message_accumulator:BatchBuilder", "_relative_offset", SEND),
)

# Set on instances only (the class has no attribute to look up): checked on a fresh instance.
_INSTANCE_ONLY = {"_committed_offset", "_acked", "_acked_index", "_n_acked", "_gap", "_waiting_for_ack",
                  "_commit_every", "_read_offset", "_buffered_partitions", "_paused_partitions", "_stopped",
                  "_active_partitions",
                  "_key_partition", "_builder", "_relative_offset"}


def _owner(spec: str) -> object:
    module, _, cls = spec.partition(":")
    found: object = importlib.import_module(module)
    return getattr(found, cls) if cls else found


def _instance_names(owner: object) -> set[str]:
    """Attribute names the owner's methods (and its bases') use: those its __init__ sets are
    among them. Read from the compiled code, so nothing is built and no source file is read."""
    names: set[str] = set()
    for klass in getattr(owner, "__mro__", (owner,)):
        for member in vars(klass).values():
            code = getattr(getattr(member, "__func__", member), "__code__", None)
            if code is not None:
                names.update(code.co_names)
    return names


def missing() -> list[str]:
    """A description of each listed name that the installed packages no longer have."""
    gone = []
    for item in NAMES:
        try:
            owner = _owner(item.owner)
        except (ImportError, AttributeError) as exc:
            gone.append(f"{item.package} {version(item.package)}: {item.owner} is gone ({exc})")
            continue
        present = (item.name in _instance_names(owner)) if item.name in _INSTANCE_ONLY else hasattr(owner, item.name)
        if not present:
            gone.append(f"{item.package} {version(item.package)}: {item.owner}.{item.name} is gone "
                        f"(used because: {item.why})")
    return gone


def check() -> None:
    gone = missing()
    if gone:
        raise IncompatibleDependency("firstline's engine needs private names these releases no longer have; "
                                     "install the versions pinned in pyproject.toml:\n  " + "\n  ".join(gone))
