"""Prometheus metrics of an agent, in the text exposition format (no client library)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class AgentMetrics:
    applied_by_fault: Counter[str] = field(default_factory=Counter)
    reverted_by_reason: Counter[str] = field(default_factory=Counter)
    apply_failures: int = 0
    revert_failures: int = 0
    renewals: int = 0
    journal_corrupt_lines: int = 0
    journal_errors: int = 0
    requests_unauthorized: int = 0
    requests_refused: int = 0  # by the agent's guards or scope (422/403)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def applied(self, fault: str) -> None:
        with self._lock:
            self.applied_by_fault[fault] += 1

    def reverted(self, reason: str) -> None:
        with self._lock:
            self.reverted_by_reason[reason] += 1

    def render(self, *, node: str, version: str, active: int, stuck: int) -> str:
        lines = [
            "# HELP chaos_agent_info Agent version and node.",
            "# TYPE chaos_agent_info gauge",
            f'chaos_agent_info{{node="{_label(node)}",version="{_label(version)}"}} 1',
            "# HELP chaos_agent_faults_active Faults applied and not yet reverted.",
            "# TYPE chaos_agent_faults_active gauge",
            f"chaos_agent_faults_active {active}",
            "# HELP chaos_agent_faults_stuck Faults whose revert failed and is being retried.",
            "# TYPE chaos_agent_faults_stuck gauge",
            f"chaos_agent_faults_stuck {stuck}",
            "# HELP chaos_agent_faults_applied_total Faults applied, by fault.",
            "# TYPE chaos_agent_faults_applied_total counter",
        ]
        with self._lock:
            applied = dict(self.applied_by_fault)
            reverted = dict(self.reverted_by_reason)
        lines += [
            f'chaos_agent_faults_applied_total{{fault="{_label(k)}"}} {v}'
            for k, v in sorted(applied.items())
        ]
        lines += [
            "# HELP chaos_agent_faults_reverted_total Faults reverted, by reason "
            "(request, lease-expired, shutdown, startup, failed-apply, retry).",
            "# TYPE chaos_agent_faults_reverted_total counter",
        ]
        lines += [
            f'chaos_agent_faults_reverted_total{{reason="{_label(k)}"}} {v}'
            for k, v in sorted(reverted.items())
        ]
        for name, value, help_text in (
            ("chaos_agent_apply_failures_total", self.apply_failures, "Applies that failed."),
            ("chaos_agent_revert_failures_total", self.revert_failures, "Reverts that failed."),
            ("chaos_agent_lease_renewals_total", self.renewals, "Lease renewals."),
            (
                "chaos_agent_unauthorized_requests_total",
                self.requests_unauthorized,
                "Requests refused with 401/403.",
            ),
            (
                "chaos_agent_journal_write_errors_total",
                self.journal_errors,
                "Journal or lease-file writes the disk refused (ENOSPC, EIO, EROFS).",
            ),
            (
                "chaos_agent_refused_faults_total",
                self.requests_refused,
                "Faults refused by the agent's guards or scope (dangerous target, out of scope).",
            ),
            (
                "chaos_agent_journal_corrupt_lines",
                self.journal_corrupt_lines,
                "Corrupt or torn journal lines skipped at start.",
            ),
        ):
            kind = "gauge" if name.endswith("_lines") else "counter"
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
