"""The lab supervisor: one process that keeps the lab's services (and agents) alive.

``python -m chaos.lab.supervisor --lab-id ID --state-dir DIR --variant V
[--isolation process|netns] [--base-port P] --restart-delay S``. Like a Deployment's
controller, it restarts any child that exits or is killed (after ``--restart-delay``),
and it records what runs where in ``DIR/state.json`` so the platform can find the lab.

The supervising loop is shared (:class:`BaseSupervisor`); what differs per isolation is
a few hooks: :class:`ProxySupervisor` runs the services on loopback behind the TCP
proxy, ``chaos.lab.netns_supervisor.NetnsSupervisor`` runs each node in its own
network namespace.

This module is the entry point and keeps the names it always had: the loop is in
``chaos.lab.base_supervisor``, the process lab in ``chaos.lab.proxy_supervisor``, what
the children run in ``chaos.lab.children`` and ``state.json`` in ``chaos.lab.state``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from chaos.lab.base_supervisor import (
    MAX_BACKOFF_S,
    QUICK_EXIT_S,
    STARTUP_TIMEOUT_S,
    STOP_GRACE_S,
    BaseSupervisor,
    Child,
    LabStartError,
    log,
)
from chaos.lab.children import (
    API_REPLICAS,
    LAB_ENV_KEYS,
    ChildSpec,
    ServicePlan,
    clean_env,
    service_argv,
    service_env,
)
from chaos.lab.proxy_supervisor import ProxySupervisor, ensure_free, plan_lab, url
from chaos.lab.state import LOG_FILE, STATE_FILE, is_healthy, write_json_atomically

__all__ = [
    "API_REPLICAS",
    "LAB_ENV_KEYS",
    "LOG_FILE",
    "MAX_BACKOFF_S",
    "QUICK_EXIT_S",
    "STARTUP_TIMEOUT_S",
    "STATE_FILE",
    "STOP_GRACE_S",
    "BaseSupervisor",
    "Child",
    "ChildSpec",
    "LabStartError",
    "ProxySupervisor",
    "ServicePlan",
    "clean_env",
    "ensure_free",
    "is_healthy",
    "log",
    "main",
    "plan_lab",
    "service_argv",
    "service_env",
    "url",
    "write_json_atomically",
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.lab.supervisor")
    parser.add_argument("--lab-id", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--variant", choices=sorted(API_REPLICAS), default="resilient")
    parser.add_argument("--isolation", choices=("process", "netns"), default="process")
    parser.add_argument("--base-port", type=int, default=18080)
    parser.add_argument("--restart-delay", type=float, default=2.0)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=args.state_dir / LOG_FILE,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    common = {
        "lab_id": args.lab_id,
        "state_dir": args.state_dir,
        "variant": args.variant,
        "restart_delay_s": args.restart_delay,
    }
    if args.isolation == "netns":
        from chaos.lab.netns_supervisor import NetnsSupervisor  # needs root; imports ip tools

        return NetnsSupervisor(**common).run()
    return ProxySupervisor(**common, base_port=args.base_port).run()


if __name__ == "__main__":
    sys.exit(main())
