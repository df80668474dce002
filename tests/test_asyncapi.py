"""The AsyncAPI document downstream teams read (schemas/asyncapi.json): made from the catalogue and
the schemas, not stale, and valid by the AsyncAPI 3.0.0 JSON Schema that the `@asyncapi/specs`
npm package ships (installed from the npm registry into .local/npm on first use)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest

from streams.admin import asyncapi
from streams.settings import REPO_ROOT
from streams.topics import CATALOGUE

SPECS_VERSION = "6.11.1"
NPM_PREFIX = REPO_ROOT / ".local" / "npm"
SPEC = NPM_PREFIX / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
COMMITTED = REPO_ROOT / "schemas" / "asyncapi.json"


def asyncapi_schema() -> dict:
    if not SPEC.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to fetch @asyncapi/specs"
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", "--silent",
                        f"@asyncapi/specs@{SPECS_VERSION}"], check=True, timeout=300)
    return json.loads(SPEC.read_text())


def test_the_committed_document_is_the_one_the_catalogue_makes() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi.render(), \
        "schemas/asyncapi.json is stale: run `firstline schemas asyncapi` and commit it"


def test_the_document_is_valid_asyncapi_3() -> None:
    import jsonschema

    validator = jsonschema.Draft7Validator(asyncapi_schema())
    doc = json.loads(COMMITTED.read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:5]
    # the validator does look inside: a wrong action, binding or payload is refused
    for path, value in ((("operations", "consumeContactEvents", "action"), "publish"),
                        (("channels", "contactEvents", "bindings", "kafka", "partitions"), "six"),
                        (("components", "messages", "ContactEvent", "payload", "schema"), 5)):
        broken = copy.deepcopy(doc)
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert list(validator.iter_errors(broken)), path


def test_every_public_topic_is_a_channel_with_its_avro_schema_and_key() -> None:
    doc = json.loads(COMMITTED.read_text())
    by_title = {c["title"]: c for c in doc["channels"].values()}
    for spec in CATALOGUE:
        if spec.role == "internal":
            assert spec.name not in by_title
            continue
        channel = by_title[spec.name]
        assert channel["address"] == "{namespace}." + spec.name
        (ref,) = channel["messages"].values()
        message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
        payload = message["payload"]
        assert payload["schemaFormat"] == "application/vnd.apache.avro+json;version=1.9.0"
        schema = json.loads((REPO_ROOT / "schemas" / payload["schema"]["$ref"]).read_text())
        assert f"{schema['namespace']}.{schema['name']}" == spec.value_schema
        assert spec.key_field in message["bindings"]["kafka"]["key"]["description"]
        kafka = channel["bindings"]["kafka"]
        assert kafka["topicConfiguration"]["cleanup.policy"] == ["compact" if spec.compacted else "delete"]
    actions = {op["channel"]["$ref"].rsplit("/", 1)[1]: op["action"] for op in doc["operations"].values()}
    assert actions["contactEvents"] == "receive" and actions["contactSummaries"] == "send"


@pytest.mark.parametrize("command", [["schemas", "asyncapi"]])
def test_the_command_says_up_to_date(command: list[str]) -> None:
    from streams.settings import Settings
    from tests.support import firstline

    result = firstline(Settings(), *command)
    assert result.returncode == 0 and b"up to date" in result.stdout, result.stdout + result.stderr
