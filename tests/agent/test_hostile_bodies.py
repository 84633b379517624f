"""Hostile and broken bodies against the real HTTP agent: every one is a 4xx naming the
field, never a 500, a traceback or an exception repr; nothing is applied, the agent
stays healthy."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request

import pytest

from tests.agent.test_server import noop_request
from tests.conftest import TOKEN


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def mutated(path: tuple, value: object) -> dict:
    body = copy.deepcopy(noop_request("hostile-1"))
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


HOSTILE_FAULTS = [
    # (where, value, the field the answer must name)
    (("target", "pid"), "1", "target.pid"),
    (("target", "pid"), True, "target.pid"),
    (("target", "pid"), 2**64, "target.pid"),
    (("target", "pid"), -1, "target.pid"),
    (("target", "pid"), 1.5, "target.pid"),
    (("target", "start_time"), 2**70, "target.start_time"),
    (("target", "start_time"), "now", "target.start_time"),
    (("target", "display"), "x\u0000y", "target.display"),
    (("target", "display"), "x" * 10_000, "target.display"),
    (("target", "kind"), "host", "target.kind"),
    (("target", "labels"), {f"k{i}": "v" for i in range(1000)}, "target.labels"),
    (("target", "labels"), {"app": 5}, "target.labels.app"),
    (("target", "attributes"), ["a"], "target.attributes"),
    (("target", "uid"), None, "target.uid"),
    (("target", "extra"), 1, "target.extra"),
    (("target",), "pid 1", "target"),
    (("id",), "a" * 129, "id"),
    (("id",), "../../etc/passwd", "id"),
    (("id",), "x\u0000", "id"),
    (("id",), 7, "id"),
    (("key",), "k\n", "key"),
    (("fault",), "noop\u0000", "fault"),
    (("fault",), ["noop"], "fault"),
    (("params",), "all", "params"),
    (("peers",), {"x": "notalist"}, "peers.x"),
    (("ttl_s",), "5", "ttl_s"),
    (("ttl_s",), 1e300, "ttl_s"),
    (("ttl_s",), True, "ttl_s"),
]


@pytest.mark.parametrize(("path", "value", "field"), HOSTILE_FAULTS)
def test_hostile_fault_bodies_are_422_naming_the_field(start_agent, path, value, field):
    agent = start_agent()
    status, answer = post(f"{agent.url}/v1/faults", json.dumps(mutated(path, value)).encode())
    assert status == 422, answer
    assert f"{field}:" in answer["error"], answer
    assert "Traceback" not in answer["error"] and "Error(" not in answer["error"]
    assert agent.client().faults() == []


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'"x"', b"1", b"null", b'{"id": NaN}', b'{"ttl_s": Infinity, "id": "a"}', b"{}"],
)
def test_bodies_that_are_not_requests_are_4xx(start_agent, raw):
    agent = start_agent()
    status, answer = post(f"{agent.url}/v1/faults", raw)
    assert 400 <= status < 500, answer
    assert "error" in answer and "Traceback" not in answer["error"]
    assert agent.client().health()["active"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": ["a"], "ttl_s": "5"}, "ttl_s"),
        ({"ids": ["a"], "ttl_s": 1e12}, "ttl_s"),
        ({"ids": ["a"]}, "ttl_s"),
        ({"ids": ["a\u0000"], "ttl_s": 5}, "ids[0]"),
        ({"ids": ["x" * 500], "ttl_s": 5}, "ids[0]"),
        ({"ids": ["a"] * 5000, "ttl_s": 5}, "ids"),
    ],
)
def test_hostile_renewals_are_4xx_naming_the_field(start_agent, body, field):
    agent = start_agent()
    status, answer = post(f"{agent.url}/v1/leases/renew", json.dumps(body).encode())
    assert 400 <= status < 500, answer
    assert field in answer["error"], answer
    assert agent.client().health()["node"] == "n1"


def test_a_valid_request_still_works_after_the_barrage(start_agent):
    agent = start_agent()
    for path, value, _ in HOSTILE_FAULTS:
        post(f"{agent.url}/v1/faults", json.dumps(mutated(path, value)).encode())
    status, answer = post(f"{agent.url}/v1/faults", json.dumps(noop_request("fine-1")).encode())
    assert status == 201, answer
    assert [f["id"] for f in agent.client().faults()] == ["fine-1"]
