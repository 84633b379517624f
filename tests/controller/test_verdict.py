from chaos.controller.events import RunStatus
from chaos.controller.verdict import NotSteady, decide
from chaos.errors import EmptySelection, ExitCode
from chaos.steady.hypothesis import Phase, PhaseCheck, RecoveryCheck

HOLDS = PhaseCheck(Phase.INJECT, True, (), ())
VIOLATED = PhaseCheck(Phase.INJECT, False, (), ("inject: probe home passed 3/8 samples",))
RECOVERED = RecoveryCheck(True, 2.0, 5, None)
NOT_RECOVERED = RecoveryCheck(False, None, 10, "recovery: did not hold")


def verdict(**overrides):
    args = dict(
        run_id="r",
        error=None,
        abort_reason=None,
        checks={Phase.INJECT: HOLDS},
        recovery=RECOVERED,
        unreverted=(),
    )
    args.update(overrides)
    return decide(**args)


def test_pass_when_the_hypothesis_held_and_the_system_recovered():
    result = verdict()
    assert (result.status, result.exit_code, result.time_to_recover_s) == (
        RunStatus.PASSED,
        ExitCode.PASSED,
        2.0,
    )


def test_fail_with_every_reason():
    result = verdict(checks={Phase.INJECT: VIOLATED}, recovery=NOT_RECOVERED)
    assert result.exit_code is ExitCode.FAILED
    assert result.reasons == ("inject: probe home passed 3/8 samples", "recovery: did not hold")


def test_abort_is_exit_3_and_error_is_exit_4():
    assert verdict(abort_reason="operator halt (SIGINT)").exit_code is ExitCode.ABORTED
    error = verdict(error=EmptySelection("selector matched nothing", target="api"))
    assert error.exit_code is ExitCode.ERROR and "target=api" in error.reasons[0]
    assert verdict(error=NotSteady("not steady")).status is RunStatus.ERROR


def test_a_fault_not_confirmed_reverted_outranks_everything():
    result = verdict(abort_reason="stop", unreverted=["latency on api: proxy unreachable"])
    assert result.exit_code is ExitCode.ERROR
    assert "could not confirm revert" in result.reasons[0]
    assert result.unreverted == ("latency on api: proxy unreachable",)


def test_a_run_the_store_could_not_record_is_never_a_pass_nor_an_abort():
    for overrides in ({}, {"abort_reason": "operator halt (SIGINT)"}):
        result = verdict(store_failure="the run could not be recorded: disk full", **overrides)
        assert (result.status, result.exit_code) == (RunStatus.ERROR, ExitCode.ERROR)
        assert result.reasons == ("the run could not be recorded: disk full",)


def test_a_dropped_fault_is_exit_4_with_every_reason_in_order():
    dropped = ("fault a on node n1 was dropped by the agent after 1.0s of its 8s (lease lost)",)
    result = verdict(
        dropped=dropped,
        unreverted=("b [x]: agent unreachable",),
        error=EmptySelection("matched nothing"),
        store_failure="the run could not be recorded: disk full",
    )
    assert result.exit_code is ExitCode.ERROR
    assert result.reasons == (
        "the run could not be recorded: disk full",
        *dropped,
        "could not confirm revert of: b [x]: agent unreachable",
        "matched nothing",
    )
    assert result.unreverted == ("b [x]: agent unreachable",)
