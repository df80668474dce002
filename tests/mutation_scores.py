"""Mutation scores per module from mutmut's results (`make mutate`): killed, survived, not
covered by the selected tests, timeouts; the score is killed (timeouts included) over all
mutants that ran. Prints a Markdown table for docs/testing.md and the surviving mutants' names."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout", -24: "timeout",
          24: "timeout", 152: "timeout", 255: "timeout", None: "not run"}


def scores(root: Path = Path("mutants")) -> tuple[dict[str, Counter[str]], list[str]]:
    by_module: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    for meta in sorted(root.rglob("*.py.meta")):
        module = str(meta.relative_to(root))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter[str] = Counter(STATUS.get(code, "suspicious") for code in codes.values())
        by_module[module] = counts
        survivors += [key for key, code in codes.items() if code == 0]
    return by_module, survivors


def main() -> int:
    by_module, survivors = scores()
    if not by_module:
        print("no results under mutants/: run `make mutate`", file=sys.stderr)
        return 1
    print("| module | mutants | killed | survived | no tests | timeout | score |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for module, c in by_module.items():
        ran = c["killed"] + c["timeout"] + c["survived"]
        score = f"{(c['killed'] + c['timeout']) / ran:.0%}" if ran else "-"
        print(f"| `{module}` | {sum(c.values())} | {c['killed']} | {c['survived']} | {c['no tests']} | "
              f"{c['timeout']} | {score} |")
    print(f"\n{len(survivors)} surviving mutants (`.venv-mutate/bin/mutmut show NAME` shows one):")
    for name in survivors:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
