"""The routing configuration's refusals, each message whole (file, line, table, what is wrong and what
is allowed), the edges of every range, the defaults, and how rules pick a queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.routing.config import ConfigError, QueueConfig, Rule, Step, load, parse

Q = "[[queues]]\nname = 'a'\n"


@pytest.mark.parametrize("text, message", [
    ("[foo]\nx=1\n[[queues]]\nname = 'a'\n",
     "routing.toml: top level: unknown keys ['foo']; allowed: ['queues', 'routing', 'rules']"),
    ("[routing]\ncolour = 1\n[[queues]]\nname = 'a'\n",
     "routing.toml: [routing]: unknown keys ['colour']; allowed: ['mixing', 'offer_timeout_s', 'stall_s']"),
    ("[routing]\nmixing = 'any'\n[[queues]]\nname = 'a'\n",
     "routing.toml: [routing]: mixing 'any' is not one of voice-exclusive, single-channel"),
    ("[routing]\noffer_timeout_s = 0.5\n[[queues]]\nname = 'a'\n",
     'routing.toml: [routing]: offer_timeout_s = 0.5 is not a number in [1, 3600]'),
    ("[routing]\noffer_timeout_s = 3601\n[[queues]]\nname = 'a'\n",
     'routing.toml: [routing]: offer_timeout_s = 3601 is not a number in [1, 3600]'),
    ("[routing]\noffer_timeout_s = true\n[[queues]]\nname = 'a'\n",
     'routing.toml: [routing]: offer_timeout_s = True is not a number in [1, 3600]'),
    ("[routing]\nstall_s = 0\n[[queues]]\nname = 'a'\n",
     'routing.toml: [routing]: stall_s = 0 is not a number in [1, 3600]'),
    ("[routing]\nstall_s = '5'\n[[queues]]\nname = 'a'\n",
     "routing.toml: [routing]: stall_s = '5' is not a number in [1, 3600]"),
    ('[[queues]]\nskills = { x = 1 }\n',
     'routing.toml:1: queues[0]: every queue needs a name'),
    ("[[queues]]\nname = '  '\n",
     'routing.toml:1: queues[0]: every queue needs a name'),
    ('[[queues]]\nname = 5\n',
     'routing.toml:1: queues[0]: every queue needs a name'),
    ("[[queues]]\nname = 'a'\nstrategy = 'random'\n",
     "routing.toml:1: queues[0] 'a': strategy 'random' is not one of longest-idle, fewest-contacts, highest-skill, round-robin"),
    ("[[queues]]\nname = 'a'\nskills = 3\n",
     "routing.toml:1: queues[0] 'a': skills must be a table of skill = lowest level"),
    ("[[queues]]\nname = 'a'\nskills = { x = 0 }\n",
     "routing.toml:1: queues[0] 'a': skill 'x': level 0 is not an integer 1..10"),
    ("[[queues]]\nname = 'a'\nskills = { x = 11 }\n",
     "routing.toml:1: queues[0] 'a': skill 'x': level 11 is not an integer 1..10"),
    ("[[queues]]\nname = 'a'\nskills = { x = true }\n",
     "routing.toml:1: queues[0] 'a': skill 'x': level True is not an integer 1..10"),
    ("[[queues]]\nname = 'a'\nskills = { x = 2.5 }\n",
     "routing.toml:1: queues[0] 'a': skill 'x': level 2.5 is not an integer 1..10"),
    ("[[queues]]\nname = 'a'\nsl_target = 1.01\n",
     "routing.toml:1: queues[0] 'a': sl_target = 1.01 is not a number in [0, 1]"),
    ("[[queues]]\nname = 'a'\nsl_target = -0.1\n",
     "routing.toml:1: queues[0] 'a': sl_target = -0.1 is not a number in [0, 1]"),
    ("[[queues]]\nname = 'a'\nsl_threshold_s = -1\n",
     "routing.toml:1: queues[0] 'a': sl_threshold_s = -1 is not a number in [0, inf]"),
    ("[[queues]]\nname = 'a'\naging_s = -1\n",
     "routing.toml:1: queues[0] 'a': aging_s = -1 is not a number in [0, inf]"),
    ("[[queues]]\nname = 'a'\ngroup = 'a b'\n",
     "routing.toml:1: queues[0] 'a': group 'a b' is not a name of letters, digits, '_', '.', '-'"),
    ("[[queues]]\nname = 'a'\ngroup = 'ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg'\n",
     "routing.toml:1: queues[0] 'a': group 'ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg' is not a name of letters, digits, '_', '.', '-'"),
    ("[[queues]]\nname = 'a'\ngroup = 7\n",
     "routing.toml:1: queues[0] 'a': group 7 is not a name of letters, digits, '_', '.', '-'"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = 5\nqueue = 'a'\nhue = 1\n",
     "routing.toml:3: queues[0] 'a' escalation[0]: unknown keys ['hue']; allowed: ['after_s', 'queue', 'skills']"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nqueue = 'a'\n",
     "routing.toml:3: queues[0] 'a' escalation[0]: after_s = None is not a number in [0, inf]"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = -1\nqueue = 'a'\n",
     "routing.toml:3: queues[0] 'a' escalation[0]: after_s = -1 is not a number in [0, inf]"),
    ("[[queues]]\nname = 'a'\nskills = { x = 2 }\n[[queues.escalation]]\nafter_s = 60\nskills = { x = 1 }\n[[queues.escalation]]\nafter_s = 60\nskills = { x = 1 }\n",
     "routing.toml:7: queues[0] 'a' escalation[1]: after_s 60 must be later than the step before (60)"),
    ("[[queues]]\nname = 'a'\nskills = { x = 2 }\n[[queues.escalation]]\nafter_s = 60\nskills = { x = 1 }\n[[queues.escalation]]\nafter_s = 30\nskills = { x = 1 }\n",
     "routing.toml:7: queues[0] 'a' escalation[1]: after_s 30 must be later than the step before (60)"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = 5\n",
     "routing.toml:3: queues[0] 'a' escalation[0]: a step either widens the skills or names a queue to overflow to"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = 5\nqueue = 'a'\nskills = { x = 1 }\n",
     "routing.toml:3: queues[0] 'a' escalation[0]: a step either widens the skills or names a queue to overflow to"),
    ("[[queues]]\nname = 'a'\nskills = { x = 2 }\n[[queues.escalation]]\nafter_s = 5\nskills = { x = 3, y = 1 }\n",
     "routing.toml:4: queues[0] 'a' escalation[0]: a step must widen the ring, but it asks more of ['x', 'y']"),
    ("[[queues]]\nname = 'a'\nskills = { x = 2 }\n[[queues.escalation]]\nafter_s = 5\nskills = { x = 0 }\n",
     "routing.toml:4: queues[0] 'a' escalation[0]: skill 'x': level 0 is not an integer 1..10"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = 5\nqueue = 'zz'\n",
     "routing.toml:1: queues[0] 'a': escalation to unknown queue 'zz'"),
    ("[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = 5\nqueue = 'b'\n[[queues]]\nname = 'b'\ngroup = 'other'\n",
     "routing.toml:1: queues[0] 'a': overflow to 'b' of another routing group ('other')"),
    ("[[queues]]\nname = 'b'\n[[queues]]\nname = 'a'\n[[queues.escalation]]\nafter_s = 5\nqueue = 'zz'\n",
     "routing.toml:3: queues[1] 'a': escalation to unknown queue 'zz'"),
    ("[[queues]]\nname = 'a'\n[[queues]]\nname = 'b'\n[[queues.escalation]]\nafter_s = 1\nqueue = 'a'\n[[queues.escalation]]\nafter_s = 2\nqueue = 'a'\ncolour = 1\n",
     "routing.toml:8: queues[1] 'b' escalation[1]: unknown keys ['colour']; allowed: ['after_s', 'queue', 'skills']"),
    ("[[queues]]\nname = 'a'\n[[queues]]\nname = 'a'\n",
     "routing.toml:3: queues[1] 'a': a queue of this name is defined already"),
    ('[routing]\n',
     'routing.toml: top level: no [[queues]]: there is nowhere to route to'),
    ('[[queues]\n',
     "routing.toml: Expected ']]' at the end of an array declaration (at line 1, column 9)"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\nhue = 1\n",
     "routing.toml:3: rules[0]: unknown keys ['hue']; allowed: ['channel', 'language', 'line', 'name', 'priority', 'queue', 'reason', 'segment']"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nname = 'r'\nqueue = 'b'\n",
     "routing.toml:3: rules[0] 'r': unknown queue 'b'; queues: a"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\n[[rules]]\nqueue = 'b'\n",
     "routing.toml:5: rules[1] 'rule-1': unknown queue 'b'; queues: a"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\npriority = 101\n",
     "routing.toml:3: rules[0] 'rule-0': priority 101 is not an integer -100..100"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\npriority = -101\n",
     "routing.toml:3: rules[0] 'rule-0': priority -101 is not an integer -100..100"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\npriority = true\n",
     "routing.toml:3: rules[0] 'rule-0': priority True is not an integer -100..100"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\npriority = 1.5\n",
     "routing.toml:3: rules[0] 'rule-0': priority 1.5 is not an integer -100..100"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\nreason = []\n",
     "routing.toml:3: rules[0] 'rule-0': reason is an empty list: the rule could never match"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\nchannel = ['voice', 'FAX', 'telex']\n",
     "routing.toml:3: rules[0] 'rule-0': unknown channels ['FAX', 'telex']; channels: VOICE, CHAT, EMAIL, MESSENGER, SOCIAL, APP"),
    ("[[queues]]\nname = 'a'\n[[rules]]\nqueue = 'a'\nchannel = 'FAX'\n",
     "routing.toml:3: rules[0] 'rule-0': unknown channels ['FAX']; channels: VOICE, CHAT, EMAIL, MESSENGER, SOCIAL, APP"),
    ("queues = [{ name = 'a', strategy = 'x' }]\n",
     "routing.toml: queues[0] 'a': strategy 'x' is not one of longest-idle, fewest-contacts, highest-skill, round-robin"),
    ("queues = [{ name = 'a', escalation = [{ after_s = 5 }] }]\n",
     "routing.toml: queues[0] 'a' escalation[0]: a step either widens the skills or names a queue to overflow to"),
    ("[[queues]]\nname = 'a'\nescalation = [{ after_s = 5, queue = 'a' }, { after_s = 1, queue = 'a' }]\n",
     "routing.toml:1: queues[0] 'a' escalation[1]: after_s 1 must be later than the step before (5)"),
    ("queues = [{ name = 'a' }]\nrules = [{ queue = 'b' }]\n",
     "routing.toml: rules[0] 'rule-0': unknown queue 'b'; queues: a"),
    ("queues = [{ name = 'a', escalation = [{ after_s = 5, queue = 'b' }] }, { name = 'b', group = 'g' }]\n",
     "routing.toml: queues[0] 'a': overflow to 'b' of another routing group ('g')"),
    ("[[queues]]\nname = 'a'\n[[queues]]\nname = 'b'\n[[rules]]\nqueue = 'c'\n",
     "routing.toml:5: rules[0] 'rule-0': unknown queue 'c'; queues: a, b"),
    ("queues = [{ name = 'a', escalation = [{ after_s = 5, queue = 'zz' }] }]\n",
     "routing.toml: queues[0] 'a': escalation to unknown queue 'zz'"),
    # escalation steps written inline have no line of their own: the queue's is named, never
    # the line of a step of a later queue
    ("[[queues]]\nname = 'a'\nescalation = [{ after_s = 5 }]\n[[queues]]\nname = 'b'\n[[queues.escalation]]\n"
     "after_s = 5\nqueue = 'a'\n",
     "routing.toml:1: queues[0] 'a' escalation[0]: a step either widens the skills or names a queue to overflow to"),
    ("[[queues]]\nname = 'a'\nescalation = [{ after_s = 5 }]\n[[queues]]\nname = 'b'\n[[queues.escalation]]\n"
     "after_s = 5\nqueue = 'a'\n[[queues]]\nname = 'c'\n",
     "routing.toml:1: queues[0] 'a' escalation[0]: a step either widens the skills or names a queue to overflow to"),
])
def test_every_refusal_says_where_and_why(text, message):
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("extra", [
    "offer_timeout_s = 1\nstall_s = 1\n", "offer_timeout_s = 3600\nstall_s = 3600\n", "offer_timeout_s = 2.5\n"])
def test_the_ends_of_the_routing_ranges_are_allowed(extra):
    config = parse("[routing]\n" + extra + Q)
    assert config.offer_timeout_ms in (1_000, 3_600_000, 2_500)


@pytest.mark.parametrize("fields", [
    "skills = { x = 1, y = 10 }", "sl_target = 0", "sl_target = 1", "sl_threshold_s = 0", "aging_s = 0",
    "group = '" + "g" * 64 + "'", "group = 'A-z_0.9'"])
def test_the_ends_of_the_queue_ranges_are_allowed(fields):
    assert parse(Q + fields + "\n").queues["a"].name == "a"


@pytest.mark.parametrize("priority", [-100, 100])
def test_the_ends_of_the_priority_range_are_allowed(priority):
    assert parse(Q + f"[[rules]]\nqueue = 'a'\npriority = {priority}\n").rules[0].priority == priority


def test_defaults():
    config = parse(Q)
    assert config.offer_timeout_ms == 20_000 and config.stall_ms == 5_000 and config.mixing == "voice-exclusive"
    assert config.queues == {"a": QueueConfig(name="a", skills={}, sl_target=0.8, sl_threshold_s=20.0,
                                              strategy="longest-idle", aging_ms=0, group="default", escalation=())}
    assert config.rules == () and config.groups() == ["default"]


def test_every_field_is_read():
    config = parse("""
[routing]
offer_timeout_s = 12.5
stall_s = 7
mixing = "single-channel"

[[queues]]
name = "billing"
skills = { billing = 3, russian = 2 }
sl_target = 0.9
sl_threshold_s = 30
strategy = "round-robin"
aging_s = 45
group = "north"
[[queues.escalation]]
after_s = 0
skills = { billing = 1 }
[[queues.escalation]]
after_s = 90.5
queue = "overflow"

[[queues]]
name = "overflow"
group = "north"

[[queues]]
name = "south"
group = "south"

[[rules]]
name = "vip"
segment = "VIP"
channel = ["voice", "Chat"]
queue = "billing"
priority = -3

[[rules]]
queue = "south"
line = [2]
""")
    assert config.offer_timeout_ms == 12_500 and config.stall_ms == 7_000 and config.mixing == "single-channel"
    assert config.queues["billing"] == QueueConfig(
        name="billing", skills={"billing": 3, "russian": 2}, sl_target=0.9, sl_threshold_s=30.0,
        strategy="round-robin", aging_ms=45_000, group="north",
        escalation=(Step(0, skills={"billing": 1}), Step(90_500, queue="overflow")))
    assert config.rules == (Rule("vip", "billing", -3, {"segment": ("vip",), "channel": ("voice", "chat")}),
                            Rule("rule-1", "south", 0, {"line": ("2",)}))
    assert config.groups() == ["north", "south"]
    assert config.group_of("overflow") == "north" and config.group_of("south") == "south"
    assert config.group_of("nowhere") is None
    assert config.queues["billing"].ring_skills(0) == {"billing": 3, "russian": 2}
    assert config.queues["billing"].ring_skills(1) == config.queues["billing"].ring_skills(2) == {"billing": 1}


def test_rules_match_every_field_they_name_case_blind_and_nothing_missing():
    config = parse(Q + "[[queues]]\nname = 'b'\n[[rules]]\nname = 'r'\nqueue = 'b'\npriority = 4\n"
                   "channel = ['VOICE']\nlanguage = ['RU', 'en']\n")
    assert config.route({"channel": "voice", "language": "ru", "queue": "a"})[0::2] == ("r", 4)
    assert config.route({"channel": "voice", "language": "EN", "queue": "a"})[1].name == "b"
    # every named field must match: one missing or different and the contact goes as queued
    assert config.route({"channel": "voice", "queue": "a"})[0:2] == ("as-queued", config.queues["a"])
    assert config.route({"channel": "voice", "language": None, "queue": "a"})[0] == "as-queued"
    assert config.route({"channel": "chat", "language": "ru", "queue": "a"})[2] == 0
    assert config.route({"channel": "chat", "language": "ru", "queue": "zz"}) is None
    assert config.route({"channel": "chat", "language": "ru"}) is None


def test_a_file_that_cannot_be_read_or_is_wrong_is_named(tmp_path: Path):
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError) as caught:
        load(missing)
    assert str(caught.value) == f"{missing}: cannot read the routing configuration (No such file or directory)"
    bad = tmp_path / "bad.toml"
    bad.write_text(Q + "strategy = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(bad)
    assert str(caught.value).startswith(f"{bad}:1: queues[0] 'a': strategy 'x'")
    good = tmp_path / "good.toml"
    good.write_text(Q, encoding="utf-8")
    assert list(load(str(good)).queues) == ["a"]


def test_a_configuration_written_out_reads_back_the_same() -> None:
    """`dumps` is how the main job gives its simulated centre's routing to the live router."""
    from streams.routing.config import dumps, load
    from streams.simulator.engine import routing_config_for
    from streams.simulator.profile import seed_profile

    shipped = load(Path(__file__).resolve().parent.parent / "deploy" / "routing.toml")
    assert shipped.rules and any(q.escalation for q in shipped.queues.values())
    for config in (shipped, routing_config_for(seed_profile(), "simulated-1")):
        assert parse(dumps(config)) == config
    assert routing_config_for(seed_profile(), "simulated-1").groups() == ["simulated-1"]
