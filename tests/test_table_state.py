"""Changelog records written by BufferedTable are the bytes faust itself would write and read."""

from streams.app import create_app
from streams.processors.table_state import BufferedTable
from streams.settings import Settings


def test_changelog_bytes_are_faust_json(tmp_path) -> None:  # noqa: ANN001
    pipeline = create_app(Settings(web_port=0, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db"))
    value = {"agg": {"b": {"3": 2}}, "facts": None, "p": 1, "ratio": 0.25, 5: "int key"}
    for table in pipeline.app.tables.values():
        topic = table.changelog_topic
        assert BufferedTable._dumps("q|VOICE|*|1") == topic.prepare_key("q|VOICE|*|1", table.key_serializer)[0]
        assert BufferedTable._dumps(value) == topic.prepare_value(value, table.value_serializer)[0]
