"""Every fault's request survives the trip to an agent: params serialise to what the
fault's own model accepts again (durations, sizes, enums, target references)."""

import pytest

from chaos.faults import CATALOG, wire
from chaos.faults.base import FaultRequest
from chaos.spec.models import TargetKind
from chaos.targets.base import Target

SAMPLES = {
    "process-kill": {"signal": "TERM"},
    "network-latency": {
        "delay": "150ms",
        "jitter": "10ms",
        "to": ["store"],
        "ports": [8080],
        "backend": "proxy",
    },
    "network-partition": {
        "direction": "in",
        "peers": ["api"],
        "cidrs": ["10.0.0.0/8"],
        "action": "reject",
    },
    "network-loss": {"percent": 12.5, "direction": "both", "backend": "iptables"},
    "network-bandwidth": {"rate": "1mbit", "burst": 65536, "latency": 200},
    "disk-fill": {"path": "/data", "size": "64MiB"},
    "cpu-stress": {"workers": 2, "load": 40},
    "memory-stress": {"size": "1GiB"},
    "noop": {},
    "container-kill": {"signal": "TERM"},
    "container-stop": {"timeout": "5s"},
    "container-pause": {},
    "pod-kill": {"gracePeriod": "5s", "waitReady": False, "readyTimeout": "30s"},
    "node-cordon": {},
    "node-drain": {"gracePeriod": "10s", "timeout": "2m"},
}


def test_every_fault_has_a_sample():
    assert set(SAMPLES) == set(CATALOG)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_round_trip(name):
    fault = CATALOG[name]
    params = fault.params.model_validate(SAMPLES[name])
    peer = Target(
        kind=TargetKind.PROCESS,
        uid="p",
        display="store-0",
        node="n2",
        attributes={"ip": "10.213.1.5"},
    )
    target = Target(
        kind=TargetKind.PROCESS,
        uid="1@2",
        display="api-0",
        node="n1",
        labels={"app": "api"},
        pid=1,
        start_time=2,
        attributes={"agent": "http://a"},
    )
    request = FaultRequest(
        fault_id="f1", key="k", target=target, params=params, peers={"to": (peer,)}, ttl_s=10.0
    )
    decoded_fault, decoded = wire.request_from_json(
        wire.request_to_json(request, fault=name), catalog=CATALOG
    )
    assert decoded_fault is fault
    assert decoded == request
