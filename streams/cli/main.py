"""The `firstline` command: topics, schemas, produce, tail, worker, run, spam, block."""

from __future__ import annotations

import argparse
import sys

from streams.settings import Settings


def _cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from streams.admin.topics import create_topics, describe_topics
    from streams.topics import spec

    if args.action == "create":
        created = create_topics(settings)
        print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else " (all existed)"))
        return 0
    for state in describe_topics(settings):
        s = spec(state.name)
        shown = f"{state.partitions} partitions, {state.config}" if state.exists else "MISSING"
        print(f"{state.name:<40} key={s.key_field:<14} value={s.value_schema:<34} {shown}")
    return 0


def _cmd_acls(settings: Settings, args: argparse.Namespace) -> int:
    from streams.admin.acls import apply, grants

    if args.action == "show":
        for grant in grants(settings, args.role, args.group_prefix):
            print(grant)
        return 0
    count = apply(settings, args.role, args.principal, args.group_prefix)
    print(f"{count} ACL(s) for {args.principal} as {args.role} on {settings.bootstrap_servers} "
          f"({settings.kafka_auth.describe()})")
    return 0


def _cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.io import produce_lines, stdin_lines

    sent, rejected = produce_lines(settings, args.topic, stdin_lines(args.file), sys.stderr)
    print(f"sent {sent}, rejected {rejected}", file=sys.stderr)
    return 1 if rejected else 0


def _cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.io import tail

    tail(settings, args.topic, from_beginning=args.from_beginning, max_records=args.max,
         idle_timeout_s=args.idle_timeout, out=sys.stdout.buffer, err=sys.stderr)
    return 0


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    import faust

    from streams.app import create_app
    from streams.engine.collector import pace_collections, tune_garbage_collector

    pipeline = create_app(settings)
    tune_garbage_collector(settings.gc_young_threshold)
    pace_collections(pipeline.app, settings.gc_freeze_interval_s, settings.gc_full_interval_s)
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0


def _cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    from streams.codec.history import incompatibilities, release

    if args.action == "release":
        for path in release(settings.schemas_dir):
            print(f"released {path.relative_to(settings.schemas_dir)}")
        return 0
    if args.action == "asyncapi":
        from streams.admin import asyncapi

        # The defaults' partition counts, not this environment's: the document is a release's.
        target = settings.schemas_dir / "asyncapi.json"
        changed = asyncapi.write(target)
        print(f"{'wrote' if changed else 'up to date:'} {target}")
        return 0
    problems = incompatibilities(settings.schemas_dir)
    for problem in problems:
        print(problem)
    print("all schemas compatible with their released versions" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.run import run

    if args.months < 0 or args.hours <= 0 or (args.scale is not None and args.scale <= 0) or args.workers < 1:
        print("--months >= 0, --hours > 0, --scale > 0 and --workers >= 1", file=sys.stderr)
        return 2
    scale = args.scale if args.scale is not None else (0.02 if args.months else 1.0)
    return run(settings, hours=args.hours, speedup=args.speedup, seed=args.seed, duration_s=args.duration,
               timeout_s=args.timeout, sms_hours=args.sms_hours, scale=scale, months=args.months,
               workers=args.workers, report_json=args.report_json)


def _cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.run import generate

    sent = generate(settings, args.contacts, args.seed, args.rate)
    print(f"produced {sent} events of {args.contacts} contacts")
    return 0


def _cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from streams.simulator.engine import HOUR_MS, Simulation
    from streams.simulator.profile import load
    from streams.simulator.publish import publish

    profile = load(args.profile).scaled(args.scale)
    if args.start:
        from datetime import datetime, timezone

        start_ms = int(datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc).timestamp() * 1000)
    else:
        # So that simulated time ends at the wall clock, not in the future: event times ahead of
        # it are refused (FIRSTLINE_MAX_FUTURE_SKEW_S). On the minute, for readable windows.
        now = int(time.time() * 1000) - int(args.hours * HOUR_MS)
        start_ms = now - now % 60_000
    simulation = Simulation(profile, start_ms, seed=args.seed, id_prefix=f"s{args.seed}-{start_ms}")
    print(f"simulating profile '{profile.name}' for {args.hours} h from {start_ms} (seed {args.seed})")
    sent = publish(simulation, settings, int(args.hours * HOUR_MS), speedup=args.speedup)
    print(f"published {sent} records")
    return 0


def _cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.report import report

    return report(settings, args)


def _cmd_spam(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.spam import spam

    return spam(settings, args)


def _cmd_block(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.spam import block

    return block(settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firstline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    topics = sub.add_parser("topics", help="create or list the catalogue's topics")
    topics.add_argument("action", choices=["create", "list"])
    acls = sub.add_parser("acls", help="grant a role (producer, worker, reader) its Kafka ACLs, or show them")
    acls.add_argument("action", choices=["apply", "show"])
    acls.add_argument("role", choices=["producer", "worker", "reader"])
    acls.add_argument("principal", help="the client's user, e.g. User:worker")
    acls.add_argument("--group-prefix", default="downstream-", help="reader: its consumer groups' prefix")
    produce = sub.add_parser("produce", help="send JSON lines (stdin or --file) to a topic")
    produce.add_argument("topic")
    produce.add_argument("--file", "-f")
    tail = sub.add_parser("tail", help="print a topic's records as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max", type=int)
    tail.add_argument("--idle-timeout", type=float, help="stop after this many seconds without a record")
    schemas = sub.add_parser("schemas", help="check schema evolution, or release the current schemas")
    schemas.add_argument("action", choices=["check", "release", "asyncapi"],
                         help="asyncapi: write schemas/asyncapi.json from the catalogue and the schemas")
    sub.add_parser("worker", help="run the stream processors and sinks")
    run = sub.add_parser("run", help="the main job: workers, the simulated contact centre and SMS, live "
                                     "progress, a report at the end")
    run.add_argument("--hours", type=float, default=24.0, help="simulated hours, ending at the wall clock (24)")
    run.add_argument("--speedup", type=float, help="simulated seconds per second (default: the hours in about "
                                                   "3 minutes; 0: as fast as possible)")
    run.add_argument("--duration", type=float, help="stop publishing after this many seconds and report")
    run.add_argument("--scale", type=float, help="the centre this many times the seed's size (1; 0.02 with --months)")
    run.add_argument("--months", type=int, default=0,
                     help="simulate this many months of growth at a reduced scale, then the monthly mix")
    run.add_argument("--workers", type=int, default=1, help="worker processes (each serves the wallboard)")
    run.add_argument("--sms-hours", type=float, default=1.0, help="hours of generated SMS traffic (0: none)")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for storage at the end")
    run.add_argument("--report-json", help="also write the report's figures to this file")
    gen = sub.add_parser("generate", help="publish generated contact events")
    gen.add_argument("--contacts", type=int, default=1000)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--rate", type=float, help="contacts per second (default: as fast as possible)")
    sim = sub.add_parser("simulate", help="a simulated contact centre publishing to the input topics")
    sim.add_argument("--profile", default="seed", help="built-in name (seed, erlang-c) or a TOML file")
    sim.add_argument("--hours", type=float, default=24.0, help="simulated hours (ending now, unless --start)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--scale", type=float, default=1.0,
                     help="a centre this many times as big: arrivals and fixed head counts times SCALE")
    sim.add_argument("--speedup", type=float, help="simulated seconds per wall second (default: as fast as possible)")
    sim.add_argument("--start", help="simulated start, ISO date/time in UTC (default: --hours before now)")
    from streams.cli.report import add_arguments
    from streams.cli.spam import add_arguments as spam_arguments

    add_arguments(sub.add_parser("report", help="FCR, CSAT, channel mix or per-channel figures from storage"))
    spam_arguments(sub.add_parser("spam", help="train or evaluate the SMS content model"),
                   sub.add_parser("block", help="block a sender operator-wide (or for one subscriber)"),
                   sub.add_parser("unblock", help="unblock a sender operator-wide (or for one subscriber)"))
    return parser


COMMANDS = {"topics": _cmd_topics, "acls": _cmd_acls, "produce": _cmd_produce, "tail": _cmd_tail,
            "worker": _cmd_worker, "run": _cmd_run, "schemas": _cmd_schemas,
            "generate": _cmd_generate, "simulate": _cmd_simulate, "report": _cmd_report,
            "spam": _cmd_spam, "block": _cmd_block, "unblock": _cmd_block}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
