"""Command probes run real programs: exit codes, stdout, environment, timeouts, bounds.

Every failure is a failed sample with its reason. How the program is run (its own
process group, killed on timeout and after it exits) is tested in
tests/host/test_command.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from chaos.errors import ProbeError
from chaos.host.command import OUTPUT_LIMIT
from chaos.spec.steady import ProbeSpec
from chaos.steady.probes import CommandProbe, ProbeSample, build_probe


def probe(**command: Any) -> CommandProbe:
    built = build_probe(ProbeSpec.model_validate({"name": "cmd", "command": command}))
    assert isinstance(built, CommandProbe)
    return built


def sh(script: str, **command: Any) -> ProbeSample:
    return probe(argv=["/bin/sh", "-c", script], **command).check()


def test_a_successful_command_passes_with_its_exit_code_and_wall_time() -> None:
    before = time.time()
    sample = probe(argv=["true"]).check()
    assert sample.ok, sample.error
    assert sample.probe == "cmd"
    assert sample.status == 0
    assert sample.error is None
    assert sample.value is None
    assert 0 < sample.latency_ms < 2000
    assert before <= sample.started_at <= time.time()


def test_a_failing_command_says_its_exit_code_and_what_was_expected() -> None:
    sample = probe(argv=["false"]).check()
    assert not sample.ok
    assert sample.status == 1
    assert sample.error == "exit code 1, expected 0"


def test_the_last_line_of_stderr_explains_a_failure() -> None:
    sample = sh("echo 'first complaint' >&2; echo '  store unreachable  ' >&2; exit 3")
    assert sample.status == 3
    assert sample.error == "exit code 3, expected 0 (stderr: store unreachable)"


def test_listed_exit_codes_are_accepted() -> None:
    assert sh("exit 3", exit_code=[0, 3]).ok
    sample = sh("exit 4", exit_code=[0, 3])
    assert sample.error == "exit code 4, expected 0/3"


def test_a_command_killed_by_a_signal_says_which() -> None:
    sample = sh("kill -TERM $$")
    assert not sample.ok
    assert sample.status == -15
    assert sample.error == "killed by SIGTERM, expected exit code 0"


def test_stdout_contains_and_regex() -> None:
    assert sh("echo 'status: ok, version 1.2.3'", stdout={"contains": "ok"}).ok
    assert sh("echo 'version 1.2.3'", stdout={"regex": r"^version \d+\.\d+"}).ok
    missing = sh("echo 'status: degraded'", stdout={"contains": "ok"})
    assert not missing.ok
    assert missing.status == 0
    assert missing.error == "stdout does not contain 'ok'"
    mismatch = sh("echo 'version 1.2.3'", stdout={"regex": r"version 2\."})
    assert mismatch.error == r"stdout does not match /version 2\./"


def test_stdout_is_not_judged_when_the_exit_code_is_wrong() -> None:
    sample = sh("echo ok; exit 2", stdout={"contains": "ok"})
    assert sample.error == "exit code 2, expected 0"


def test_an_invalid_regex_is_a_misconfigured_probe_raised_when_built() -> None:
    with pytest.raises(ProbeError, match=r"probe cmd: invalid regex '\('"):
        probe(argv=["true"], stdout={"regex": "("})


def test_the_environment_is_ours_plus_the_probes_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOS_TEST_INHERITED", "from-parent")
    sample = sh(
        'printf "%s/%s" "$CHAOS_TEST_INHERITED" "$CHAOS_TEST_EXTRA"',
        env={"CHAOS_TEST_EXTRA": "from-spec"},
        stdout={"contains": "from-parent/from-spec"},
    )
    assert sample.ok, sample.error


def test_a_missing_program_is_a_failed_sample_saying_it_cannot_run() -> None:
    sample = probe(argv=["nope-no-such-program"]).check()
    assert not sample.ok
    assert sample.status is None
    assert sample.error == "cannot run: [Errno 2] No such file or directory: 'nope-no-such-program'"


def test_a_file_that_is_not_executable_cannot_run(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    sample = probe(argv=[str(script)]).check()
    assert sample.status is None
    assert sample.error is not None
    assert sample.error.startswith("cannot run: [Errno 13] Permission denied")


def test_a_timeout_is_a_failed_sample_saying_so() -> None:
    sample = sh("sleep 5", timeout="500ms")
    assert not sample.ok
    assert sample.status is None
    assert sample.error == "timed out after 0.5s"
    assert 500 <= sample.latency_ms < 2000


def test_output_beyond_the_bound_is_drained_and_not_judged() -> None:
    script = "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo tail-marker"
    head = sh(script, stdout={"regex": "^x{1000}"}, timeout="5s")
    assert head.ok, head.error
    tail = sh(script, stdout={"contains": "tail-marker"}, timeout="5s")
    assert tail.status == 0  # ran to the end: the unread rest never blocked the writer
    assert tail.error == (
        f"stdout does not contain 'tail-marker' (only its first {OUTPUT_LIMIT // 1024} KiB"
        " are checked)"
    )


def test_a_flood_of_stderr_still_ends_with_its_last_line() -> None:
    sample = sh(
        "head -c 1000000 /dev/zero | tr '\\0' e >&2; echo >&2; echo 'disk full' >&2; exit 2"
    )
    assert sample.error == "exit code 2, expected 0 (stderr: disk full)"
