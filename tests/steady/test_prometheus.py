"""Prometheus queries against a real Prometheus server scraping a real metrics endpoint.

The test starts its own ``prometheus`` (never the Debian service) on a free loopback
port with its storage in a temporary directory, scraping every second a tiny
endpoint served here. Every way a query can fail to give one number must be a
failed sample with its reason, never an exception.

Needs the binary: ``apt-get install -y --no-install-recommends prometheus``.
"""

from __future__ import annotations

import math
import socket
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from chaos.spec.steady import PrometheusSpec
from chaos.steady.prometheus import PrometheusQuery
from tests.prometheus_lab import Servers, free_port  # fixtures: ``servers``, ``metrics_endpoint``


def query(url: str, promql: str, **spec: Any) -> PrometheusQuery:
    return PrometheusQuery("q", PrometheusSpec(url=url, query=promql, **spec))


def test_a_scalar_query_reads_its_number(servers: Servers) -> None:
    before = time.time()
    sample = query(servers.prometheus, "scalar(lab_queue_depth) * 2").check()
    assert sample.ok, sample.error
    assert sample.value == 14.0
    assert sample.probe == "q"
    assert sample.status == 200
    assert sample.error is None
    assert 0 < sample.latency_ms < 2000
    assert before <= sample.started_at <= time.time()


def test_a_vector_of_one_series_reads_its_value(servers: Servers) -> None:
    assert query(servers.prometheus, "lab_queue_depth").check().value == 7.0
    aggregated = query(servers.prometheus, "sum(lab_requests_total)").check()
    assert aggregated.ok, aggregated.error
    assert aggregated.value == 8.0


def test_nan_and_infinities_are_numbers_read_as_such(servers: Servers) -> None:
    values = {
        kind: query(servers.prometheus, f'lab_odd{{kind="{kind}"}}').check().value
        for kind in ("nan", "up", "down")
    }
    assert values["nan"] is not None and math.isnan(values["nan"])
    assert values["up"] == math.inf
    assert values["down"] == -math.inf


def test_an_empty_result_is_a_failed_sample(servers: Servers) -> None:
    sample = query(servers.prometheus, "lab_queue_depth > 100").check()
    assert not sample.ok
    assert sample.status == 200
    assert sample.value is None
    assert sample.error == "query returned no series"


def test_several_series_must_be_aggregated_to_one(servers: Servers) -> None:
    sample = query(servers.prometheus, "lab_requests_total").check()
    assert not sample.ok
    assert sample.value is None
    assert sample.error == "query returned 2 series; aggregate it to one (sum, max, ...)"


def test_a_range_vector_or_a_string_is_not_a_number(servers: Servers) -> None:
    matrix = query(servers.prometheus, "lab_queue_depth[10s]").check()
    assert not matrix.ok
    assert matrix.error is not None
    assert matrix.error.startswith("query returned a range vector (matrix); an instant query")
    string = query(servers.prometheus, '"seven"').check()
    assert string.error is not None
    assert string.error.startswith("query returned a string; an instant query returning a number")


def test_a_syntax_error_carries_prometheus_error_type_and_message(servers: Servers) -> None:
    sample = query(servers.prometheus, "sum(lab_queue_depth").check()
    assert not sample.ok
    assert sample.status == 400
    assert sample.error is not None
    assert sample.error.startswith("bad_data: ")
    assert "parse error" in sample.error


def test_a_trailing_slash_on_the_base_url_is_fine(servers: Servers) -> None:
    assert query(f"{servers.prometheus}/", "vector(1)").check().value == 1.0


def test_a_sub_second_timeout_is_passed_on_in_a_form_prometheus_accepts(servers: Servers) -> None:
    sample = query(servers.prometheus, "vector(1)", timeout="250ms").check()
    assert sample.ok, sample.error
    assert "timeout=0.25" in query(servers.prometheus, "vector(1)", timeout="250ms").url


def test_the_query_is_url_encoded_and_the_headers_are_sent(servers: Servers) -> None:
    promql = 'sum(rate(lab_requests_total{route="/items"}[1m])) + 1 & x'
    headers = {"Authorization": "Bearer abc", "X-Scope-OrgID": "shop"}
    query(servers.metrics, promql, headers=headers).check()
    url = urllib.parse.urlsplit(servers.seen.path)
    assert url.path == "/api/v1/query"
    assert urllib.parse.parse_qs(url.query)["query"] == [promql]
    assert servers.seen.headers["authorization"] == "Bearer abc"
    assert servers.seen.headers["x-scope-orgid"] == "shop"


def test_a_server_that_is_not_prometheus_is_a_failed_sample(servers: Servers) -> None:
    sample = query(servers.metrics, "vector(1)").check()
    assert not sample.ok
    assert sample.status == 200
    assert sample.error == "HTTP 200: the answer is not JSON (is this a Prometheus server?)"


def test_a_wrong_path_on_prometheus_is_a_failed_sample(servers: Servers) -> None:
    sample = query(f"{servers.prometheus}/no-such-prefix", "vector(1)").check()
    assert not sample.ok
    assert sample.status == 404
    assert sample.error is not None and sample.error.startswith("HTTP 404")


def test_an_unreachable_prometheus_is_a_failed_sample_saying_cannot_connect() -> None:
    sample = query(f"http://127.0.0.1:{free_port()}", "vector(1)").check()
    assert not sample.ok
    assert sample.status is None
    assert sample.error is not None and sample.error.startswith("cannot connect")
    assert "refused" in sample.error.lower()


def test_a_server_that_never_answers_times_out_at_the_spec_timeout() -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        sample = query(url, "vector(1)", timeout="300ms").check()
    assert not sample.ok
    assert sample.status is None
    assert sample.error == "timed out after 0.3s"
    assert 300 <= sample.latency_ms < 1500


def test_a_proxy_in_the_environment_is_not_used(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    sample = query(servers.prometheus, "vector(1)").check()
    assert sample.ok, sample.error
