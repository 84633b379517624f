"""The agent's dead-man's switch: a small process that outlives the agent and reverts
its faults from the journal when their leases run out and no agent is alive.

    python -m chaos.agent.watchdog --journal-dir DIR --node NODE

``chaos agent serve`` starts it (in its own session, so a SIGKILL of the agent or of
its process group does not reach it) unless one already serves DIR: one watchdog
per journal directory, guarded by an flock on ``watchdog.lock``.

Every ``POLL_S`` it tries the agent's lock (``agent.lock``, held by a live agent
for its whole life; the kernel releases it when the agent dies, even by SIGKILL):

- held: an agent is alive and owns the journal; do nothing;
- free: the agent is dead. Holding the lock (so a restarting agent waits, and the
  two never revert the same fault), revert every pending fault whose lease has
  ended (its lease file's mtime, else the expiry journaled at apply, else now),
  through the same code as the agent (``Undo.from_json`` + the catalog's revert,
  then ``journal.reverted``), and release it. Once nothing is pending, exit.

A fault is therefore gone at most lease TTL + ``POLL_S`` + its revert time after
the agent's last renewal. Output goes to ``DIR/watchdog.log``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from chaos.agent.journal import AGENT_LOCK, WATCHDOG_LOCK, PendingFault, UndoJournal, try_lock
from chaos.host import lease

log = logging.getLogger("chaos.agent.watchdog")

POLL_S = 0.5
RETRY_FAILED_S = 5.0
LOG_FILE = "watchdog.log"


def watch(directory: Path, *, node: str, poll_s: float = POLL_S) -> int:
    """Serve ``directory`` until its agent is dead and nothing is pending; 0 when another
    watchdog already serves it."""
    with try_lock(directory / WATCHDOG_LOCK) as mine:
        if not mine:
            log.info("another watchdog serves %s", directory)
            return 0
        journal = UndoJournal(directory)
        failed_at: dict[str, float] = {}
        log.info("watching %s for node %s", directory, node)
        while True:
            try:
                if revert_if_agent_dead(journal, node=node, failed_at=failed_at):
                    log.info("agent gone and nothing pending: exiting")
                    return 0
            except OSError as exc:
                if not directory.is_dir():  # the directory went away: nothing left to guard
                    log.warning("journal directory gone (%s): exiting", exc)
                    return 0
                # a read the disk refused (EIO): faults may still be pending, so never leave
                log.error("journal %s unreadable (%s): trying again", directory, exc)
            time.sleep(poll_s)


def revert_if_agent_dead(journal: UndoJournal, *, node: str, failed_at: dict[str, float]) -> bool:
    """One poll. True when the agent is dead and nothing is pending (time to exit)."""
    with try_lock(journal.directory / AGENT_LOCK) as agent_dead:
        if not agent_dead:
            return False
        now = time.time()
        left = 0
        for item in journal.pending():
            if _lease_end(journal, item) > now or now - failed_at.get(item.id, 0) < RETRY_FAILED_S:
                left += 1
                continue
            if _revert(journal, item, node=node):
                failed_at.pop(item.id, None)
            else:
                failed_at[item.id] = now
                left += 1
        return left == 0


def _lease_end(journal: UndoJournal, item: PendingFault) -> float:
    on_disk = lease.expiry(journal.lease_file(item.id))
    if on_disk is not None:
        return on_disk
    # no lease file: the agent removed it while reverting (the host is reverted and only
    # the journal line is missing), or it was lost: revert now (reverts are idempotent).
    # The journaled lease_until is not trusted over that: renewals never reach it.
    return 0.0


def _revert(journal: UndoJournal, item: PendingFault, *, node: str) -> bool:
    # imported here: an idle watchdog stays small (the catalog pulls in every fault)
    from chaos.faults import CATALOG
    from chaos.faults.base import HostContext, Undo

    try:
        undo = Undo.from_json(item.undo)
        fault = CATALOG.get(undo.fault)
        if fault is None:
            log.error("fault %s: unknown fault type %r in the journal", item.id, undo.fault)
            return False
        fault.revert(undo, HostContext(node=node))
    except Exception:  # keep it pending; retried every RETRY_FAILED_S
        log.exception("revert of %s (%s) failed", item.id, item.fault)
        return False
    log.warning("reverted %s (%s): the agent is dead and its lease ended", item.id, item.fault)
    try:
        journal.reverted(fault_id=item.id)
    except OSError as exc:  # ENOSPC, EROFS: the host is reverted; the line is retried
        log.error("fault %s: cannot journal its revert (%s): retrying", item.id, exc.strerror)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.agent.watchdog")
    parser.add_argument("--journal-dir", type=Path, required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args(argv)
    directory = args.journal_dir.resolve()
    os.chdir("/")  # a long-lived process must not keep a mount busy through its cwd
    handler = _OpenPerRecordHandler(directory / LOG_FILE)
    handler.setFormatter(
        logging.Formatter("%(asctime)s watchdog[%(process)d] %(levelname)s %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    try:
        return watch(directory, node=args.node)
    except Exception:
        log.exception("watchdog failed")
        return 1


class _OpenPerRecordHandler(logging.FileHandler):
    """Appends each record and closes the file again: the watchdog logs rarely and lives
    long, and a file it kept open for writing would keep the journal's filesystem from
    being remounted read-only (or a rotated log from being released)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self.close()


if __name__ == "__main__":
    sys.exit(main())
