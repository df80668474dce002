"""The routing configuration: queues, the rules that choose them, and how agents are chosen.

A TOML file (deploy/routing.toml is the one shipped) with three parts:

    [routing]                         # how offers and agents behave
    offer_timeout_s = 20              # an offer unanswered this long returns the contact
    stall_s = 5                       # a gap this long in a group's input: the router was down
    mixing = "voice-exclusive"        # or "single-channel"

    [[queues]]
    name = "billing"
    skills = { billing = 3 }          # skill -> lowest level an agent needs
    sl_target = 0.8                   # share answered within sl_threshold_s
    sl_threshold_s = 20
    strategy = "longest-idle"         # fewest-contacts, highest-skill, round-robin
    aging_s = 60                      # priority +1 for each aging_s waited (0: none)
    group = "default"                 # routing group: decided by one worker at a time
    [[queues.escalation]]             # after a wait, widen the skills or overflow
    after_s = 60
    skills = { billing = 1 }
    [[queues.escalation]]
    after_s = 180
    queue = "billing-line2"

    [[rules]]                         # first match wins; no match: the queue the contact names
    name = "fraud"
    reason = ["fraud"]                # channel, reason, language, segment, line: lists to match
    queue = "security"
    priority = 10

Errors name the file, the line and the table (`routing.toml:14: rules[2]: unknown queue 'x'`):
tomllib gives no positions, so the line is found by counting the tables' headers in the text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STRATEGIES = ("longest-idle", "fewest-contacts", "highest-skill", "round-robin")
MIXING = ("voice-exclusive", "single-channel")
MATCH_FIELDS = ("channel", "reason", "language", "segment", "line")
CHANNELS = ("VOICE", "CHAT", "EMAIL", "MESSENGER", "SOCIAL", "APP")


class ConfigError(ValueError):
    """A routing configuration that cannot be used; the message names the line."""


@dataclass(frozen=True)
class Step:
    """One escalation step: after `after_ms` in the queue, the required skills become `skills`
    (a wider ring) or the contact overflows to `queue`."""

    after_ms: int
    skills: dict[str, int] | None = None
    queue: str | None = None


@dataclass(frozen=True)
class QueueConfig:
    name: str
    skills: dict[str, int] = field(default_factory=dict)
    sl_target: float = 0.8
    sl_threshold_s: float = 20.0
    strategy: str = "longest-idle"
    aging_ms: int = 0
    group: str = "default"
    escalation: tuple[Step, ...] = ()

    def ring_skills(self, ring: int) -> dict[str, int]:
        """The skills a contact needs after `ring` widening steps."""
        skills = self.skills
        for step in self.escalation[:ring]:
            if step.skills is not None:
                skills = step.skills
        return skills


@dataclass(frozen=True)
class Rule:
    name: str
    queue: str
    priority: int = 0
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def matches(self, attrs: dict[str, Any]) -> bool:
        for name, allowed in self.match.items():
            value = attrs.get(name)
            if value is None or str(value).casefold() not in allowed:
                return False
        return True


@dataclass(frozen=True)
class RoutingConfig:
    queues: dict[str, QueueConfig]
    rules: tuple[Rule, ...] = ()
    offer_timeout_ms: int = 20_000
    # A gap longer than this between a group's inputs (whose worker writes a TICK every
    # FIRSTLINE_ROUTING_TICK_S while anything is pending) means no router was running: pending
    # offers' clocks stop for the gap, since no desk could see them meanwhile.
    stall_ms: int = 5_000
    mixing: str = "voice-exclusive"

    def route(self, attrs: dict[str, Any]) -> tuple[str, QueueConfig, int] | None:
        """(rule name, queue, priority) for a contact's attributes: the first rule that matches,
        else the queue the contact names (rule "as-queued"), else None (no such queue)."""
        for rule in self.rules:
            if rule.matches(attrs):
                return rule.name, self.queues[rule.queue], rule.priority
        named = attrs.get("queue")
        if named in self.queues:
            return "as-queued", self.queues[named], 0
        return None

    def group_of(self, queue: str) -> str | None:
        q = self.queues.get(queue)
        return q.group if q is not None else None

    def groups(self) -> list[str]:
        return sorted({q.group for q in self.queues.values()})


def _lines_of(text: str, header: str) -> list[int]:
    """Line numbers (1-based) of the `[[header]]` tables, in order."""
    pattern = re.compile(r"^\s*\[\[\s*" + re.escape(header) + r"\s*\]\]")
    return [i + 1 for i, line in enumerate(text.splitlines()) if pattern.match(line)]


class _Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.queue_lines = _lines_of(text, "queues")
        self.rule_lines = _lines_of(text, "rules")
        self.step_lines = _lines_of(text, "queues.escalation")

    def fail(self, where: str, line: int | None, message: str) -> ConfigError:
        at = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{at}: {where}: {message}")


def _known(reader: _Reader, where: str, line: int | None, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise reader.fail(where, line, f"unknown keys {unknown}; allowed: {sorted(allowed)}")


def _skills(reader: _Reader, where: str, line: int | None, raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise reader.fail(where, line, "skills must be a table of skill = lowest level")
    out = {}
    for name, level in raw.items():
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 10:
            raise reader.fail(where, line, f"skill {name!r}: level {level!r} is not an integer 1..10")
        out[str(name)] = level
    return out


def _number(reader: _Reader, where: str, line: int | None, name: str, value: Any, low: float,
            high: float = float("inf")) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise reader.fail(where, line, f"{name} = {value!r} is not a number in [{low}, {high}]")
    return float(value)


def _queue(reader: _Reader, index: int, raw: dict[str, Any], step_lines: list[int]) -> QueueConfig:
    line = reader.queue_lines[index] if index < len(reader.queue_lines) else None
    where = f"queues[{index}]"
    _known(reader, where, line, raw, {"name", "skills", "sl_target", "sl_threshold_s", "strategy", "aging_s",
                                      "group", "escalation"})
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise reader.fail(where, line, "every queue needs a name")
    where = f"queues[{index}] {name!r}"
    strategy = raw.get("strategy", "longest-idle")
    if strategy not in STRATEGIES:
        raise reader.fail(where, line, f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    skills = _skills(reader, where, line, raw.get("skills", {}))
    steps = []
    last_after, ring = 0.0, skills
    for j, s in enumerate(raw.get("escalation", [])):
        s_line = step_lines[j] if j < len(step_lines) else line
        s_where = f"{where} escalation[{j}]"
        _known(reader, s_where, s_line, s, {"after_s", "skills", "queue"})
        after = _number(reader, s_where, s_line, "after_s", s.get("after_s"), 0)
        if after <= last_after and j > 0:
            raise reader.fail(s_where, s_line, f"after_s {after:g} must be later than the step before ({last_after:g})")
        last_after = after
        if ("skills" in s) == ("queue" in s):
            raise reader.fail(s_where, s_line, "a step either widens the skills or names a queue to overflow to")
        if "skills" in s:
            wider = _skills(reader, s_where, s_line, s["skills"])
            # Rings must widen: a contact waiting longer never needs more than one waiting less
            # (the engine relies on it to look only at the oldest contact of each queue).
            narrower = {k: v for k, v in wider.items() if ring.get(k, 0) < v}
            if narrower:
                raise reader.fail(s_where, s_line, f"a step must widen the ring, but it asks more of {sorted(narrower)}")
            ring = wider
            steps.append(Step(int(after * 1000), skills=wider))
        else:
            steps.append(Step(int(after * 1000), queue=str(s["queue"])))
    return QueueConfig(
        name=name, skills=skills,
        sl_target=_number(reader, where, line, "sl_target", raw.get("sl_target", 0.8), 0, 1),
        sl_threshold_s=_number(reader, where, line, "sl_threshold_s", raw.get("sl_threshold_s", 20), 0),
        strategy=strategy,
        aging_ms=int(_number(reader, where, line, "aging_s", raw.get("aging_s", 0), 0) * 1000),
        group=_group(reader, where, line, raw.get("group", "default")), escalation=tuple(steps))


def _group(reader: _Reader, where: str, line: int | None, group: Any) -> str:
    # A record key and part of the router's table keys: plain names only.
    if not isinstance(group, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", group):
        raise reader.fail(where, line, f"group {group!r} is not a name of letters, digits, '_', '.', '-'")
    return group


def _rule(reader: _Reader, index: int, raw: dict[str, Any], queues: dict[str, QueueConfig]) -> Rule:
    line = reader.rule_lines[index] if index < len(reader.rule_lines) else None
    where = f"rules[{index}]"
    _known(reader, where, line, raw, {"name", "queue", "priority", *MATCH_FIELDS})
    name = raw.get("name", f"rule-{index}")
    where = f"rules[{index}] {name!r}"
    queue = raw.get("queue")
    if queue not in queues:
        raise reader.fail(where, line, f"unknown queue {queue!r}; queues: {', '.join(sorted(queues))}")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not -100 <= priority <= 100:
        raise reader.fail(where, line, f"priority {priority!r} is not an integer -100..100")
    match = {}
    for key in MATCH_FIELDS:
        if key in raw:
            values = raw[key] if isinstance(raw[key], list) else [raw[key]]
            if not values:
                raise reader.fail(where, line, f"{key} is an empty list: the rule could never match")
            if key == "channel" and (bad := [v for v in values if str(v).upper() not in CHANNELS]):
                raise reader.fail(where, line, f"unknown channels {bad}; channels: {', '.join(CHANNELS)}")
            match[key] = tuple(str(v).casefold() for v in values)
    return Rule(str(name), queue, priority, match)


def parse(text: str, source: str = "routing.toml") -> RoutingConfig:
    reader = _Reader(source, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    _known(reader, "top level", None, data, {"routing", "queues", "rules"})
    general = data.get("routing", {})
    _known(reader, "[routing]", None, general, {"offer_timeout_s", "mixing", "stall_s"})
    mixing = general.get("mixing", "voice-exclusive")
    if mixing not in MIXING:
        raise reader.fail("[routing]", None, f"mixing {mixing!r} is not one of {', '.join(MIXING)}")
    timeout = _number(reader, "[routing]", None, "offer_timeout_s", general.get("offer_timeout_s", 20), 1, 3600)
    stall = _number(reader, "[routing]", None, "stall_s", general.get("stall_s", 5), 1, 3600)
    queues: dict[str, QueueConfig] = {}
    step_lines = reader.step_lines
    for i, raw in enumerate(data.get("queues", [])):
        line = reader.queue_lines[i] if i < len(reader.queue_lines) else 0
        following = reader.queue_lines[i + 1] if i + 1 < len(reader.queue_lines) else 1 << 30
        mine = [n for n in step_lines if line < n < following]
        q = _queue(reader, i, raw, mine)
        if q.name in queues:
            raise reader.fail(f"queues[{i}] {q.name!r}", line, "a queue of this name is defined already")
        queues[q.name] = q
    if not queues:
        raise reader.fail("top level", None, "no [[queues]]: there is nowhere to route to")
    for i, q in enumerate(queues.values()):
        for step in q.escalation:
            if step.queue is not None and step.queue not in queues:
                raise reader.fail(f"queues[{i}] {q.name!r}", reader.queue_lines[i] if i < len(reader.queue_lines) else None,
                                  f"escalation to unknown queue {step.queue!r}")
            if step.queue is not None and queues[step.queue].group != q.group:
                raise reader.fail(f"queues[{i}] {q.name!r}", reader.queue_lines[i] if i < len(reader.queue_lines) else None,
                                  f"overflow to {step.queue!r} of another routing group ({queues[step.queue].group!r})")
    rules = tuple(_rule(reader, i, raw, queues) for i, raw in enumerate(data.get("rules", [])))
    return RoutingConfig(queues, rules, offer_timeout_ms=int(timeout * 1000), mixing=mixing,
                         stall_ms=int(stall * 1000))


def load(path: str | Path) -> RoutingConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the routing configuration ({exc.strerror})") from None
    return parse(text, str(path))


def dumps(config: RoutingConfig) -> str:
    """The configuration as the TOML `parse` reads (parse(dumps(c)) == c): how the main job hands
    its simulated centre's routing to the live router."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{value(k)} = {value(x)}" for k, x in v.items()) + " }" if v else "{}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"{type(v).__name__} has no TOML form here")

    lines = ["[routing]", f"offer_timeout_s = {config.offer_timeout_ms / 1000!r}",
             f"stall_s = {config.stall_ms / 1000!r}", f"mixing = {value(config.mixing)}"]
    for q in config.queues.values():
        lines += ["", "[[queues]]", f"name = {value(q.name)}", f"skills = {value(q.skills)}",
                  f"sl_target = {q.sl_target!r}", f"sl_threshold_s = {q.sl_threshold_s!r}",
                  f"strategy = {value(q.strategy)}", f"aging_s = {q.aging_ms / 1000!r}", f"group = {value(q.group)}"]
        for step in q.escalation:
            lines += ["[[queues.escalation]]", f"after_s = {step.after_ms / 1000!r}",
                      f"skills = {value(step.skills)}" if step.skills is not None else f"queue = {value(step.queue)}"]
    for r in config.rules:
        lines += ["", "[[rules]]", f"name = {value(r.name)}", f"queue = {value(r.queue)}", f"priority = {r.priority}",
                  *(f"{k} = {value(list(v))}" for k, v in r.match.items())]
    return "\n".join(lines) + "\n"
