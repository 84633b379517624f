"""A stand-in ``chaos`` command for the action's fast tests.

It appends every argument list it gets to ``$FAKE_CHAOS_CALLS`` (JSON lines) and, for
``chaos run``, plays the outcome planned in ``$FAKE_CHAOS_PLAN`` (JSON: ``exit_code``,
``status``, ``reasons``, ``output``, ``reports``): it prints the output, writes the report
files named by ``--junit/--json/--markdown/--html`` (the JSON one in the documented shape,
``{"run": {"id", "status", "exit_code", "reasons"}}``) and exits with the planned code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPORT_FLAGS = ("--junit", "--json", "--markdown", "--html")


def main() -> None:
    args = sys.argv[1:]
    with open(os.environ["FAKE_CHAOS_CALLS"], "a") as calls:
        calls.write(json.dumps(args) + "\n")
    if args[:1] == ["version"]:
        print("0.0.0+fake")
        return
    if args[:1] != ["run"]:
        sys.exit(f"fake chaos: {args[:1]} is not modelled")
    plan = json.loads(Path(os.environ["FAKE_CHAOS_PLAN"]).read_text())
    print(plan.get("output", "fake chaos run"))
    if plan.get("reports", True):
        paths = {flag: args[i + 1] for i, flag in enumerate(args) if flag in REPORT_FLAGS}
        _write_reports(paths, plan)
    sys.exit(plan["exit_code"])


def _write_reports(paths: dict[str, str], plan: dict) -> None:
    run = {
        "id": "fake-run-1",
        "status": plan["status"],
        "exit_code": plan["exit_code"],
        "reasons": plan.get("reasons", []),
    }
    name = f"{run['status']}: {'; '.join(run['reasons']) or 'hypothesis held'}"
    contents = {
        "--json": json.dumps({"schema": "fake", "run": run}),
        "--junit": f'<testsuite name="fake"><testcase name="{run["status"]}"/></testsuite>',
        "--markdown": f"## Chaos run fake-run-1\n\n**{name}**\n",
        "--html": f"<html><body>{name}</body></html>",
    }
    for flag, path in paths.items():
        Path(path).write_text(contents[flag])


if __name__ == "__main__":
    main()
