"""The topic catalogue agrees with the schemas (pure logic)."""

from __future__ import annotations

from streams.codec import load_registry
from streams.settings import Settings
from streams.topics import CATALOGUE, spec


def test_every_topic_has_a_schema_with_its_key_field_as_a_string() -> None:
    registry = load_registry(Settings().schemas_dir)
    for topic in CATALOGUE:
        schema = registry.reader(topic.value_schema).definition
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        assert fields.get(topic.key_field) == "string", f"{topic.name}: key {topic.key_field}"


def test_every_schema_is_on_a_topic() -> None:
    registry = load_registry(Settings().schemas_dir)
    assert set(registry.current) == {t.value_schema for t in CATALOGUE} | {s for t in CATALOGUE for s in t.also_reads}


def test_names_are_unique_and_resolve_both_ways() -> None:
    names = [t.name for t in CATALOGUE]
    assert len(names) == len(set(names))
    s = Settings(namespace="ops")
    for t in CATALOGUE:
        assert spec(t.name) is t
        assert spec(t.full_name(s)) is t


def test_compacted_topics_carry_latest_state_only() -> None:
    assert spec("contact-summaries").config()["cleanup.policy"] == "compact"
    assert spec("contact-events").config()["cleanup.policy"] == "delete"


def test_fact_batches_hold_exactly_the_fact_schema() -> None:
    import json

    from streams.settings import REPO_ROOT

    fact = json.loads((REPO_ROOT / "schemas" / "queue_fact.avsc").read_text())
    batch = json.loads((REPO_ROOT / "schemas" / "queue_fact_batch.avsc").read_text())
    assert batch["fields"][1]["type"]["items"] == fact  # change both together
