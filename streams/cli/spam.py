"""`firstline spam train|evaluate|corpus` and `firstline block|unblock`."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
import uuid
from pathlib import Path

from streams.settings import Settings


def add_arguments(spam: argparse.ArgumentParser, block: argparse.ArgumentParser,
                  unblock: argparse.ArgumentParser) -> None:
    sub = spam.add_subparsers(dest="action", required=True)
    train = sub.add_parser("train", help="train the content model on a labelled file (spam|ham, a tab, the text)")
    train.add_argument("file")
    train.add_argument("--out", help="where to write the model (default: FIRSTLINE_SMS_MODEL's file, or "
                                     "content_model.npz in FIRSTLINE_DATA_DIR; never the shipped one)")
    ev = sub.add_parser("evaluate", help="train on part of a labelled file and judge the rest")
    ev.add_argument("file")
    ev.add_argument("--train-fraction", type=float, default=0.5)
    ev.add_argument("--seed", type=int, default=1)
    corpus = sub.add_parser("corpus", help="write the project's generated labelled Russian + English corpus")
    corpus.add_argument("file")
    corpus.add_argument("--messages", type=int, default=20000)
    corpus.add_argument("--seed", type=int, default=1)
    for p, verb in ((block, "block"), (unblock, "unblock")):
        p.add_argument("sender", help="a number or an alphanumeric sender name")
        p.add_argument("--reason", required=True, help=f"why you {verb} it (kept with the change)")
        p.add_argument("--by", default=None, help="who does it (default: the login name)")
        p.add_argument("--subscriber", default="*", help="a subscriber's own list instead of the operator-wide one")


def _rows(path: str):
    from streams.protection.content_model import read_labelled

    with open(path, encoding="utf-8") as f:
        return read_labelled(f, origin=path)


def spam(settings: Settings, args: argparse.Namespace) -> int:
    from streams.protection import content_model as cm

    try:
        if args.action == "corpus":
            from streams.protection.corpus import write

            write(args.file, args.messages, args.seed)
            print(f"wrote {args.messages} labelled messages to {args.file}")
            return 0
        rows = _rows(args.file)
        if args.action == "evaluate":
            result = cm.evaluate(rows, args.train_fraction, args.seed)
            print("\n".join(result.lines()))
            return 0
        rows = cm.unique(rows)
        model = cm.train([t for _, t in rows], [s for s, _ in rows])
        # Never over the shipped model (it is part of the package): FIRSTLINE_SMS_MODEL's file,
        # or one in the data directory, which the worker uses once FIRSTLINE_SMS_MODEL names it.
        out = Path(args.out or settings.sms_model or settings.data_dir / "content_model.npz")
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save(out)
        spam_count = sum(1 for s, _ in rows if s)
        print(f"trained on {len(rows)} messages ({spam_count} spam, {len(rows) - spam_count} ham); wrote {out}")
        if not settings.sms_model or Path(settings.sms_model) != out:
            print(f"the worker uses it with FIRSTLINE_SMS_MODEL={out}")
        return 0
    except (cm.CorpusError, OSError, UnicodeDecodeError) as exc:
        print(f"firstline spam {args.action}: {exc}", file=sys.stderr)
        return 2


def block(settings: Settings, args: argparse.Namespace) -> int:
    from streams.producers.producer import ChannelProducer

    action = "BLOCK" if args.command == "block" else "UNBLOCK"
    who = args.by or getpass.getuser()
    change = {"change_id": f"cli:{uuid.uuid4()}", "subscriber_id": args.subscriber, "sender": args.sender,
              "action": action, "occurred_at": int(time.time() * 1000),
              # who and why travel in the change's source: the contract has no other free field
              "source": f"operator:{who}: {args.reason}"[:256]}
    with ChannelProducer(settings) as producer:
        producer.send("block-list-changes", change)
        producer.flush(30)
    scope = "operator-wide" if args.subscriber == "*" else "for one subscriber"
    print(f"{action.lower()}ed {args.sender} {scope} ({change['change_id']})")
    return 0
