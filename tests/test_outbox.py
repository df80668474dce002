"""Where keyed records go: Kafka's default partitioner, bit for bit."""

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from streams.engine.producer import KeyHashes, murmur2


def signed(h: int) -> int:
    return h - (1 << 32) if h >= 1 << 31 else h


@pytest.mark.parametrize("data,java", [
    # org.apache.kafka.common.utils.UtilsTest.testMurmur2
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
])
def test_murmur2_matches_the_java_client(data: bytes, java: int) -> None:
    assert signed(murmur2(data)) == java


def test_murmur2_matches_aiokafka_on_every_tail_length() -> None:
    rng = random.Random(5)
    mixed: dict[int, int] = {}  # the caches, shared by keys with words and heads in common
    heads: dict[tuple[bytes, int], int] = {}
    for _ in range(5000):
        data = rng.randbytes(rng.randrange(0, 70))
        assert murmur2(data) == aiokafka_murmur2(data)
        for key in (data, b"voice-general|VOICE|moscow|MINUTE|" + data, b"queue|VOICE|" + data[:5],
                    b"voice-general|VOICE|moscow|MINUTE|" + data[:rng.randrange(0, 20)]):
            assert murmur2(key, mixed, heads) == aiokafka_murmur2(key)


def kafka_partition(key: bytes, count: int) -> int:
    """Kafka's default partitioner for a keyed record, as aiokafka (and the Java client) compute it."""
    return (aiokafka_murmur2(key) & 0x7FFFFFFF) % count


def test_remembered_hashes_place_keys_as_the_partitioner_does(monkeypatch) -> None:
    from streams.engine import producer

    monkeypatch.setattr(producer, "native_murmur2", None)  # the Python path, which remembers
    hashes = KeyHashes(size=3)
    keys = [f"contact-{i}".encode() for i in range(10)] * 2
    for key in keys:  # past the size, so the memory is cleared and refilled
        assert hashes.partition(key, 6) == kafka_partition(key, 6)
        assert hashes.partition(key, 4) == kafka_partition(key, 4)


def test_the_c_murmur2_is_built_and_agrees_with_the_java_client_and_aiokafka(monkeypatch) -> None:
    from streams.engine import producer

    assert producer.native_murmur2 is not None, "streams/engine/_partition.c was not built"
    assert signed(producer.native_murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")) == -58897971
    rng = random.Random(6)
    for _ in range(5000):
        data = rng.randbytes(rng.randrange(0, 70))
        assert producer.native_murmur2(data) == aiokafka_murmur2(data)
    # and the remembering Python path, where the C one is not built, places keys alike
    monkeypatch.setattr(producer, "native_murmur2", None)
    python = KeyHashes(size=3)
    monkeypatch.undo()
    native = KeyHashes()
    for key in [f"contact-{i}".encode() for i in range(10)]:
        assert native.partition(key, 6) == kafka_partition(key, 6)
    monkeypatch.setattr(producer, "native_murmur2", None)
    for key in [f"contact-{i}".encode() for i in range(10)]:
        assert python.partition(key, 6) == kafka_partition(key, 6)
