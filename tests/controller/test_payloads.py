"""What the run loop's own events say (pure)."""

from __future__ import annotations

from chaos.controller import payloads
from chaos.controller.events import RunStatus
from chaos.controller.verdict import RunResult
from chaos.errors import ExitCode
from chaos.steady import hypothesis as hyp
from chaos.steady.hypothesis import Phase


def test_recovery_is_described_in_seconds_after_revert_or_by_why_not():
    recovered = hyp.RecoveryCheck(True, 2.345, 5, None)
    assert payloads.describe_recovery(recovered) == "recovered 2.3s after revert"
    assert payloads.recovery_event_data(recovered) == {
        "recovered": True,
        "time_to_recover_s": 2.345,
        "samples": 5,
    }
    stuck = hyp.RecoveryCheck(False, None, 3, "homepage still failing")
    assert payloads.describe_recovery(stuck) == "homepage still failing"
    assert payloads.describe_recovery(hyp.RecoveryCheck(False, None, 0, None)) == (
        "did not recover"
    )


def test_a_phase_ends_with_its_check_and_any_extra_data():
    check = hyp.PhaseCheck(Phase.INJECT, False, (), ("p99 above 100 ms",))
    assert payloads.phase_ended_data(check) == {"holds": False, "reasons": ["p99 above 100 ms"]}
    extra = {"after": "inject", "unreverted": []}
    assert payloads.phase_ended_data(None, extra) == extra
    assert payloads.phase_ended_data(None) == {}


def test_the_run_ends_with_its_status_and_exit_code():
    result = RunResult("r1", RunStatus.ABORTED, ExitCode.ABORTED, ("operator halt",))
    assert payloads.run_ended_data(result) == {"status": "aborted", "exit_code": 3}
