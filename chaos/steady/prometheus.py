"""Prometheus instant queries: read the one number behind an SLI backed by Prometheus."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from chaos.spec.steady import PrometheusSpec
from chaos.steady.http import exchange, no_proxy_opener
from chaos.steady.probes import ProbeSample, elapsed_ms


class PrometheusQuery:
    """Read one number with a PromQL instant query, for an SLI backed by Prometheus.

    Like a probe it never raises: an unreachable server, a bad query or an answer
    that is not one number is a failed sample saying why. A sample that read a
    number (NaN and infinities included) is ``ok`` with ``value`` set; whether the
    value is good is the SLI's threshold's business.
    """

    def __init__(self, name: str, spec: PrometheusSpec) -> None:
        self.name = name
        self.spec = spec
        # Prometheus also stops evaluating at the timeout, instead of working on for nobody.
        params = {"query": spec.query, "timeout": f"{spec.timeout:g}"}
        self.url = f"{spec.url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode(params)}"
        self._opener = no_proxy_opener()

    def check(self) -> ProbeSample:
        started_wall, started = time.time(), time.perf_counter()
        headers = {"Accept": "application/json", **self.spec.headers}
        request = urllib.request.Request(self.url, headers=headers)
        status, body, error = exchange(self._opener, request, timeout=self.spec.timeout)
        value = None
        if error is None:
            value, error = read_query_answer(status, body)
        return ProbeSample(
            probe=self.name,
            started_at=started_wall,
            ok=error is None,
            latency_ms=elapsed_ms(started),
            status=status,
            error=error,
            value=value,
        )


Reading = tuple[float | None, str | None]  # (value, None) or (None, why there is none)


def read_query_answer(status: int | None, body: bytes) -> Reading:
    """The number in a Prometheus HTTP API answer to an instant query, or why there is none."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None, f"HTTP {status}: the answer is not JSON (is this a Prometheus server?)"
    if not isinstance(answer, dict):
        return None, f"HTTP {status}: not a Prometheus API answer"
    if answer.get("status") == "error":
        return None, f"{answer.get('errorType', 'error')}: {answer.get('error', 'no detail')}"
    data = answer.get("data")
    if status != 200 or answer.get("status") != "success" or not isinstance(data, dict):
        return None, f"HTTP {status}: not a Prometheus query answer"
    read = _RESULT_READERS.get(data.get("resultType"), _unknown_result)
    return read(data.get("result"))


def _read_vector(result: Any) -> Reading:
    if not isinstance(result, list):
        return None, "malformed vector in the answer"
    if not result:
        return None, "query returned no series"
    if len(result) > 1:
        return None, f"query returned {len(result)} series; aggregate it to one (sum, max, ...)"
    series = result[0]
    return _sample_value(series.get("value") if isinstance(series, dict) else None)


def _not_a_number(kind: str) -> Callable[[Any], Reading]:
    def read(result: Any) -> Reading:
        return None, (
            f"query returned a {kind}; an instant query returning a number is needed "
            "(a scalar or a vector of one series)"
        )

    return read


def _unknown_result(result: Any) -> Reading:
    return None, "the answer has no known resultType"


def _sample_value(pair: Any) -> Reading:
    """``[<time>, "<value>"]`` → the value; "NaN", "+Inf" and "-Inf" are numbers too."""
    try:
        return float(pair[1]), None
    except (TypeError, ValueError, IndexError, KeyError):
        return None, f"malformed sample value {pair!r} in the answer"


_RESULT_READERS: dict[Any, Callable[[Any], Reading]] = {
    "scalar": _sample_value,
    "vector": _read_vector,
    "matrix": _not_a_number("range vector (matrix)"),
    "string": _not_a_number("string"),
}
