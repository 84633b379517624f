"""Probes: one check of the system, returning a pass/fail sample with the reason.

A probe that cannot connect, times out or answers wrongly yields a *failed
sample*; it never raises. Only a misconfigured probe raises ProbeError.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from chaos.spec.models import HttpProbeSpec, JsonMatch, ProbeSpec

# No proxy handlers: an http_proxy in the environment must not reroute probe traffic.
_NO_PROXY = urllib.request.ProxyHandler({})
_JSON_PATH = re.compile(r"[^.\[\]]+|\[\d+\]")


@dataclass(frozen=True)
class ProbeSample:
    probe: str
    started_at: float  # wall clock (time.time()), for storage and charts
    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None


class HttpProbe:
    """GET (or another method) a URL and check status, latency, body and JSON fields."""

    def __init__(self, spec: ProbeSpec) -> None:
        self.name = spec.name
        self.spec: HttpProbeSpec = spec.http
        self._opener = urllib.request.build_opener(_NO_PROXY)

    def check(self) -> ProbeSample:
        started_wall, started = time.time(), time.perf_counter()
        status, body, error = self._fetch()
        latency_ms = (time.perf_counter() - started) * 1000
        if error is None:
            error = self._judge(status, body, latency_ms)
        return ProbeSample(
            probe=self.name,
            started_at=started_wall,
            ok=error is None,
            latency_ms=round(latency_ms, 3),
            status=status,
            error=error,
        )

    def _fetch(self) -> tuple[int | None, bytes, str | None]:
        request = urllib.request.Request(
            self.spec.url, method=self.spec.method.value, headers=dict(self.spec.headers)
        )
        try:
            with self._opener.open(request, timeout=self.spec.timeout) as response:
                return response.status, response.read(), None
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return exc.code, body, None
        except TimeoutError:
            return None, b"", f"timed out after {self.spec.timeout:g}s"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return None, b"", f"timed out after {self.spec.timeout:g}s"
            return None, b"", f"cannot connect: {reason}"
        except (OSError, ValueError) as exc:
            return None, b"", f"request failed: {exc}"

    def _judge(self, status: int | None, body: bytes, latency_ms: float) -> str | None:
        spec = self.spec
        if status not in spec.status:
            wanted = "/".join(str(code) for code in spec.status)
            return f"status {status}, expected {wanted}"
        if spec.latency is not None and not spec.latency.holds(latency_ms):
            return f"latency {latency_ms:.0f}ms, expected {spec.latency}"
        text = body.decode(errors="replace")
        if spec.body is not None:
            if spec.body.contains is not None and spec.body.contains not in text:
                return f"body does not contain {spec.body.contains!r}"
            if spec.body.regex is not None and re.search(spec.body.regex, text) is None:
                return f"body does not match /{spec.body.regex}/"
        if spec.json_match:
            return _judge_json(text, spec.json_match)
        return None


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


def build_probe(spec: ProbeSpec) -> HttpProbe:
    """The probe implementation for a spec (HTTP today; Prometheus/command later)."""
    return HttpProbe(spec)
