"""Tables: the changelog records BufferedTable writes are the bytes faust itself would write and read;
no standby copies of other workers' tables unless asked."""

import asyncio
import dataclasses

from faust.types import TP

from streams.app import create_app
from streams.engine.runner import WorkerContext
from streams.engine.tables import BufferedTable
from streams.settings import Settings


def offline_settings(tmp_path) -> Settings:  # noqa: ANN001
    """An app's settings with no web server and a scratch data folder: nothing here connects."""
    return Settings(web_port=0, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db")


def scratch_table(tmp_path) -> BufferedTable:  # noqa: ANN001
    """A table as a worker makes it: faust's memory store, its changelog topic."""
    return WorkerContext(create_app(offline_settings(tmp_path)).engine, "test").table("t", partitions=2)


def test_changelog_bytes_are_faust_json(tmp_path) -> None:  # noqa: ANN001
    pipeline = create_app(offline_settings(tmp_path))
    value = {"agg": {"b": {"3": 2}}, "facts": None, "p": 1, "ratio": 0.25, 5: "int key"}
    for table in pipeline.app.tables.values():
        topic = table.changelog_topic
        assert BufferedTable._dumps("q|VOICE|*|1") == topic.prepare_key("q|VOICE|*|1", table.key_serializer)[0]
        assert BufferedTable._dumps(value) == topic.prepare_value(value, table.value_serializer)[0]


def test_one_record_per_changed_key_and_none_for_a_key_that_came_and_went(tmp_path) -> None:  # noqa: ANN001
    table = scratch_table(tmp_path)
    table.put("kept", 1, 0)
    table.put("kept", 2, 0)
    table.put("brief", 3, 1)
    table.delete("brief", 1)
    assert table.changes() == [(b'"kept"', b"2", 0)]  # the latest value; "brief" never reached it
    table.delete("kept", 0)
    table.put("again", 4, 1)
    table.delete("again", 1)
    table.put("again", 5, 1)
    assert table.changes() == [(b'"kept"', None, 0), (b'"again"', b"5", 1)]
    table.delete("again", 1)
    table.put("kept", 6, 0)  # its last changelog record is a tombstone already
    table.delete("kept", 0)
    assert table.changes() == [(b'"again"', None, 1)]
    assert table.changes() == [] and dict(table.items()) == {}


def test_no_standby_copies_of_tables_unless_asked(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # faust keeps a standby by reading the other workers' changelogs record by record: two workers
    # on a backlog spent about a third of their CPU on it (README, Benchmark).
    settings = offline_settings(tmp_path)
    assert Settings.from_env().standby_replicas == 0
    assert create_app(settings).app.conf.table_standby_replicas == 0
    monkeypatch.setenv("FIRSTLINE_STANDBY_REPLICAS", "1")
    assert Settings.from_env().standby_replicas == 1
    assert create_app(dataclasses.replace(settings, standby_replicas=1)).app.conf.table_standby_replicas == 1


def test_keys_written_here_leave_with_their_partition(tmp_path) -> None:  # noqa: ANN001
    # After a rebalance faust's memory store drops the keys of partitions this worker no longer
    # holds; a processor's own writes must be among them, or a worker would go on serving (and
    # holding) the state of queues and contacts another worker now owns.
    table = scratch_table(tmp_path)
    table.put("kept", 1, 0)
    table.put("moved", 2, 1)
    table.put("gone", 3, 1)
    table.delete("gone", 1)
    asyncio.run(table.faust_table.data.on_recovery_completed({TP("t-changelog", 0)}, set()))
    assert dict(table.items()) == {"kept": 1}
