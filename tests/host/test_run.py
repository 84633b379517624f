"""chaos.host.run: the one subprocess gate: argv in, Completed out, HostError on failure."""

from __future__ import annotations

import sys

import pytest

from chaos.errors import HostError
from chaos.host.run import Completed, in_netns, run


def test_run_returns_output_of_the_exact_argv() -> None:
    done = run(["printf", "%s|", "a b", "$HOME"])
    assert done == Completed(argv=("printf", "%s|", "a b", "$HOME"), returncode=0,
                             stdout="a b|$HOME|", stderr="")  # fmt: skip


def test_a_failing_command_raises_with_argv_and_stderr() -> None:
    with pytest.raises(HostError) as caught:
        run([sys.executable, "-c", "import sys; sys.exit('boom on stderr')"])
    assert "boom on stderr" in str(caught.value)
    assert "exit 1" in str(caught.value) and sys.executable in str(caught.value)


def test_check_false_returns_the_failure_instead() -> None:
    done = run(["false"], check=False)
    assert done.returncode == 1 and not done.ok


def test_missing_binary_and_timeout_are_host_errors() -> None:
    with pytest.raises(HostError, match="command not found: no-such-chaos-binary"):
        run(["no-such-chaos-binary"])
    with pytest.raises(HostError, match=r"timed out after 0\.2s: sleep 5"):
        run(["sleep", "5"], timeout=0.2)


def test_input_is_fed_to_stdin() -> None:
    assert run(["cat"], input=b"rules\n").stdout == "rules\n"


def test_in_netns_wraps_with_nsenter_or_leaves_argv_alone() -> None:
    assert in_netns(4242, ["iptables", "-S"]) == [
        "nsenter", "-t", "4242", "-n", "--", "iptables", "-S",
    ]  # fmt: skip
    assert in_netns(None, ("iptables", "-S")) == ["iptables", "-S"]
