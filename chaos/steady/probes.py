"""Probes: one check of the system, returning a pass/fail sample with the reason.

A probe that cannot connect, times out or answers wrongly yields a *failed
sample*; it never raises, because a failing system is what an experiment is
there to observe. Only a misconfigured probe (an invalid regex) raises
ProbeError, when it is built, so preflight reports it before anything is touched.

Three kinds share this contract: HTTP and command probes judge pass/fail (here);
Prometheus queries read the number behind an SLI (``chaos.steady.prometheus``,
judged elsewhere).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from chaos.errors import ProbeError
from chaos.host.command import OUTPUT_LIMIT, CommandOutput, run_command, signal_name
from chaos.spec.steady import BodyMatch, CommandProbeSpec, HttpProbeSpec, JsonMatch, ProbeSpec
from chaos.steady.http import exchange, no_proxy_opener

_JSON_PATH = re.compile(r"[^.\[\]]+|\[\d+\]")


@dataclass(frozen=True)
class ProbeSample:
    """One check of one probe.

    ``status`` is the HTTP status (HTTP probes, Prometheus) or the command's exit
    code (negative: killed by that signal); None means nothing answered (cannot
    connect, timed out, cannot run), which preflight treats as unreachable.
    ``value`` is the number a Prometheus query read, for SLIs.
    """

    probe: str
    started_at: float  # wall clock (time.time()), for storage and charts
    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None
    value: float | None = None


class Probe(Protocol):
    """What the sampler needs of any probe: a name and one check that never raises."""

    name: str

    def check(self) -> ProbeSample: ...


class TextMatch:
    """A BodyMatch ready to judge text; its regex is compiled once, when the probe is built."""

    def __init__(self, match: BodyMatch, *, probe: str) -> None:
        self.contains = match.contains
        try:
            self.regex = re.compile(match.regex) if match.regex is not None else None
        except re.error as exc:
            raise ProbeError(f"probe {probe}: invalid regex {match.regex!r}: {exc}") from exc

    def judge(self, text: str, *, what: str) -> str | None:
        """Why ``text`` (named ``what`` in the message: body, stdout) fails, or None."""
        if self.contains is not None and self.contains not in text:
            return f"{what} does not contain {self.contains!r}"
        if self.regex is not None and self.regex.search(text) is None:
            return f"{what} does not match /{self.regex.pattern}/"
        return None


class HttpProbe:
    """GET (or another method) a URL and check status, latency, body and JSON fields."""

    def __init__(self, spec: ProbeSpec) -> None:
        if spec.http is None:
            raise ProbeError(f"probe {spec.name} has no http section")
        self.name = spec.name
        self.spec: HttpProbeSpec = spec.http
        self._body = TextMatch(spec.http.body, probe=spec.name) if spec.http.body else None
        self._opener = no_proxy_opener()

    def check(self) -> ProbeSample:
        started_wall, started = time.time(), time.perf_counter()
        request = urllib.request.Request(
            self.spec.url, method=self.spec.method.value, headers=dict(self.spec.headers)
        )
        status, body, error = exchange(self._opener, request, timeout=self.spec.timeout)
        latency_ms = elapsed_ms(started)
        if error is None:
            error = self._judge(status, body, latency_ms)
        return ProbeSample(
            probe=self.name,
            started_at=started_wall,
            ok=error is None,
            latency_ms=latency_ms,
            status=status,
            error=error,
        )

    def _judge(self, status: int | None, body: bytes, latency_ms: float) -> str | None:
        spec = self.spec
        if status not in spec.status:
            return f"status {status}, expected {_one_of(spec.status)}"
        if spec.latency is not None and not spec.latency.holds(latency_ms):
            return f"latency {latency_ms:.0f}ms, expected {spec.latency}"
        text = body.decode(errors="replace")
        if self._body is not None and (error := self._body.judge(text, what="body")):
            return error
        if spec.json_match:
            return _judge_json(text, spec.json_match)
        return None


class CommandProbe:
    """Run a program (no shell) and check its exit code and standard output.

    ``chaos.host.command.run_command`` runs it in its own process group, bounds its
    output and kills the whole group on timeout and after it exits.
    """

    def __init__(self, spec: ProbeSpec) -> None:
        if spec.command is None:
            raise ProbeError(f"probe {spec.name} has no command section")
        self.name = spec.name
        self.spec: CommandProbeSpec = spec.command
        stdout = spec.command.stdout
        self._stdout = TextMatch(stdout, probe=spec.name) if stdout else None

    def check(self) -> ProbeSample:
        started_wall, started = time.time(), time.perf_counter()
        env = {**os.environ, **self.spec.env}
        result = run_command(self.spec.argv, env=env, timeout=self.spec.timeout)
        output = result if isinstance(result, CommandOutput) else None
        error = self._judge(output) if output is not None else str(result)
        return ProbeSample(
            probe=self.name,
            started_at=started_wall,
            ok=error is None,
            latency_ms=elapsed_ms(started),
            status=output.returncode if output is not None else None,
            error=error,
        )

    def _judge(self, output: CommandOutput) -> str | None:
        if output.returncode not in self.spec.exit_code:
            return _exit_failure(output, self.spec.exit_code)
        if self._stdout is None:
            return None
        error = self._stdout.judge(output.stdout.decode(errors="replace"), what="stdout")
        if error is not None and output.stdout_truncated:
            error += f" (only its first {OUTPUT_LIMIT // 1024} KiB are checked)"
        return error


def _exit_failure(output: CommandOutput, accepted: tuple[int, ...]) -> str:
    code = output.returncode
    if code < 0:
        message = f"killed by {signal_name(-code)}, expected exit code {_one_of(accepted)}"
    else:
        message = f"exit code {code}, expected {_one_of(accepted)}"
    lines = output.stderr.decode(errors="replace").strip().splitlines()
    return f"{message} (stderr: {lines[-1].strip()[:200]})" if lines else message


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading): a sample's latency."""
    return round((time.perf_counter() - started) * 1000, 3)


def _one_of(accepted: tuple[int, ...]) -> str:
    return "/".join(str(code) for code in accepted)


def _judge_json(text: str, matches: tuple[JsonMatch, ...]) -> str | None:
    try:
        document = json.loads(text)
    except ValueError:
        return "body is not JSON"
    for match in matches:
        found, value = json_lookup(document, match.path)
        if not match.exists:
            if found:
                return f"JSON {match.path} exists, expected absent"
            continue
        if not found:
            return f"JSON {match.path} missing"
        if match.equals is not None and value != match.equals:
            return f"JSON {match.path} = {value!r}, expected {match.equals!r}"
    return None


def json_lookup(document: Any, path: str) -> tuple[bool, Any]:
    """``items[0].name`` in a decoded JSON document → (found, value)."""
    current = document
    for part in _JSON_PATH.findall(path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(current, list) or index >= len(current):
                return False, None
            current = current[index]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return False, None
    return True, current


def build_probe(spec: ProbeSpec) -> Probe:
    """The probe implementation for a spec (the model guarantees exactly one kind)."""
    return HttpProbe(spec) if spec.http is not None else CommandProbe(spec)
