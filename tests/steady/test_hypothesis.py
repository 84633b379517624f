import pytest

from chaos.spec.models import StopCondition
from chaos.steady.hypothesis import (
    Observation,
    Phase,
    StopConditionWatch,
    check_phase,
    check_recovery,
)
from chaos.steady.probes import ProbeSample


def obs(tick, phase, ok, *, probe="home", at=None, latency=10.0):
    sample = ProbeSample(
        probe,
        at if at is not None else 100.0 + tick,
        ok,
        latency,
        200 if ok else 502,
        None if ok else "status 502, expected 200",
    )
    return Observation(tick, phase, sample)


def test_a_phase_holds_only_when_every_probe_passes_enough_samples():
    observations = [obs(t, Phase.INJECT, t != 2) for t in range(5)]
    strict = check_phase(observations, phase=Phase.INJECT, probes=["home"], min_pass_ratio=1.0)
    assert not strict.holds
    assert "passed 4/5" in strict.reasons[0] and "status 502" in strict.reasons[0]
    lenient = check_phase(observations, phase=Phase.INJECT, probes=["home"], min_pass_ratio=0.8)
    assert lenient.holds


def test_tolerated_probes_do_not_fail_the_fault_phase():
    observations = [obs(t, Phase.INJECT, False) for t in range(3)]
    check = check_phase(
        observations, phase=Phase.INJECT, probes=["home"], min_pass_ratio=1.0, tolerated=["home"]
    )
    assert check.holds and check.probes[0].tolerated and check.probes[0].passed == 0


def test_samples_of_other_phases_are_ignored():
    observations = [obs(0, Phase.BASELINE, False), obs(1, Phase.INJECT, True)]
    assert check_phase(observations, phase=Phase.INJECT, probes=["home"], min_pass_ratio=1).holds


def test_time_to_recover_is_the_start_of_the_first_passing_streak():
    pattern = [False, False, True, False, True, True, True]
    observations = [obs(t, Phase.RECOVERY, ok, at=200.0 + t) for t, ok in enumerate(pattern)]
    check = check_recovery(observations, probes=["home"], needed=3, reverted_at=199.5)
    assert check.recovered
    assert check.time_to_recover_s == pytest.approx(4.5)  # tick 4 at 204.0


def test_not_recovering_within_the_window_is_reported():
    observations = [obs(t, Phase.RECOVERY, t % 2 == 0) for t in range(6)]
    check = check_recovery(observations, probes=["home"], needed=2, reverted_at=0)
    assert not check.recovered and check.time_to_recover_s is None
    assert "2 consecutive" in check.reason


def test_recovery_needs_every_probe_in_the_same_tick():
    observations = [obs(t, Phase.RECOVERY, True) for t in range(3)]
    observations += [obs(t, Phase.RECOVERY, t == 2, probe="api") for t in range(3)]
    check = check_recovery(observations, probes=["home", "api"], needed=1, reverted_at=0)
    assert check.recovered and check.time_to_recover_s == pytest.approx(102.0)


def test_stop_condition_trips_after_failing_for_its_duration():
    watch = StopConditionWatch([StopCondition(probe="home", for_="2s")])
    assert watch.observe(obs(0, Phase.INJECT, False, at=10.0).sample) is None
    assert watch.observe(obs(1, Phase.INJECT, False, at=11.0).sample) is None
    assert watch.observe(obs(2, Phase.INJECT, False, at=12.0).sample) is not None


def test_a_passing_sample_resets_the_stop_condition():
    watch = StopConditionWatch([StopCondition(probe="home", for_="1s")])
    watch.observe(obs(0, Phase.INJECT, False, at=10.0).sample)
    watch.observe(obs(1, Phase.INJECT, True, at=11.0).sample)
    assert watch.observe(obs(2, Phase.INJECT, False, at=12.0).sample) is None
    assert watch.observe(obs(3, Phase.INJECT, False, at=13.0).sample) is not None


def test_zero_duration_stop_condition_trips_on_the_first_failure():
    watch = StopConditionWatch([StopCondition(probe="home")])
    assert watch.observe(obs(0, Phase.INJECT, False).sample) is not None
