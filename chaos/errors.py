"""The one exception tree of the platform.

Every error raised on purpose by chaos code derives from :class:`ChaosError`.
Each carries the context a user needs (experiment, step, target, node) and the
process exit code the CLI maps it to (see ``docs/exit-codes.md``)::

    ChaosError                      exit 4 unless a subclass says otherwise
    ├── SpecError                   exit 2: an experiment file is invalid
    ├── UsageError                  exit 2: bad command-line input
    │   ├── NotFoundError           an unknown run or schedule
    │   └── StateConflict           e.g. a halt for a run that already ended
    ├── PlanError                   exit 4: targets cannot be resolved / blast radius
    │   └── EmptySelection          a selector matched nothing
    ├── TargetError                 a target backend failed (process gone, ...)
    ├── FaultError                  applying or reverting a fault failed
    │   └── RevertError             a revert could not be confirmed
    ├── ProbeError                  a probe could not run at all
    ├── LoadError                   Locust could not start, or died during the run
    ├── HostError                   a host command or control endpoint failed
    ├── AgentError                  an agent refused a request or could not be reached
    │   └── AgentUnreachable        no answer from the agent (network, TLS, timeout)
    ├── LabError                    the built-in lab could not start/stop
    └── StoreError                  the run store could not be opened or written
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; stable, documented in docs/exit-codes.md."""

    PASSED = 0
    FAILED = 1
    INVALID = 2
    ABORTED = 3
    ERROR = 4


class ChaosError(Exception):
    """Base of every error the platform raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(
        self,
        message: str,
        *,
        experiment: str | None = None,
        step: str | None = None,
        target: str | None = None,
        node: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.experiment = experiment
        self.step = step
        self.target = target
        self.node = node

    def context(self) -> dict[str, str]:
        """The non-empty context fields, for logs and stored events."""
        fields = {
            "experiment": self.experiment,
            "step": self.step,
            "target": self.target,
            "node": self.node,
        }
        return {key: value for key, value in fields.items() if value}

    def __str__(self) -> str:
        where = ", ".join(f"{key}={value}" for key, value in self.context().items())
        return f"{self.message} ({where})" if where else self.message


@dataclass(frozen=True)
class SpecIssue:
    """One problem in an experiment file, located at file:line:col and a field path."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class SpecError(ChaosError):
    """An experiment file is invalid; carries every problem found, not just the first."""

    exit_code = ExitCode.INVALID

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class UsageError(ChaosError):
    exit_code = ExitCode.INVALID


class NotFoundError(UsageError):
    """An id or name that names nothing: an unknown run, schedule or game day."""


class StateConflict(UsageError):
    """An action the object's state refuses, e.g. halting a run that already ended."""


class PlanError(ChaosError):
    """The experiment is valid but cannot be planned against this environment."""


class EmptySelection(PlanError):
    """A target selector matched nothing at run time."""


class TargetError(ChaosError):
    """A target backend could not list, inspect or act on a target."""


class FaultError(ChaosError):
    """Applying or reverting a fault failed."""


class RevertError(FaultError):
    """A revert could not be confirmed; the fault may still be active."""


class ProbeError(ChaosError):
    """A probe is misconfigured or could not run at all."""


class LoadError(ChaosError):
    """The load generator (Locust) could not start, or stopped before the run ended."""


class HostError(ChaosError):
    """A host-level command or local control endpoint failed."""


class AgentError(ChaosError):
    """An agent answered with an error (the message is the agent's own)."""


class AgentUnreachable(AgentError):
    """The agent did not answer: connection refused, TLS failure or timeout."""


class LabError(ChaosError):
    """The built-in lab could not be started, reached or stopped."""


class StoreError(ChaosError):
    """The run store could not be opened or written."""
