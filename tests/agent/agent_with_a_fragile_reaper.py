"""`chaos agent serve` whose noop fault's revert raises SystemExit: what no per-pass
`except Exception` catches, so the lease reaper thread dies (a stand-in for a bug).

    python tests/agent/agent_with_a_fragile_reaper.py PORT JOURNAL_DIR TOKEN

Exits with the agent's exit code, as the CLI would.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from chaos.agent import run
from chaos.agent.scope import ScopePolicy
from chaos.errors import ChaosError
from chaos.faults import CATALOG
from chaos.faults.base import FaultType


def _revert(undo, host):
    raise SystemExit("a failure no pass of the reaper can catch")


def main() -> int:
    port, journal, token = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.INFO)
    noop = CATALOG["noop"]
    fragile = FaultType(noop.name, noop.summary, noop.params, noop.prepare, noop.apply, _revert)
    run.CATALOG = {**CATALOG, "noop": fragile}  # type: ignore[attr-defined]
    config = run.AgentConfig(
        host="127.0.0.1",
        port=port,
        node="n1",
        journal_dir=journal,
        token=token,
        scope=ScopePolicy(node=True),  # its noop faults target no process
    )
    try:
        run.serve(config)
    except ChaosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
