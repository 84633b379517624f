"""The wire form of a fault request, shared by the controller and the agents.

Both sides import the same package (no version skew); the agent re-validates
parameters with the fault's own model, so a request built by hand is checked
exactly like an experiment file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from chaos.errors import FaultError
from chaos.faults.base import FaultRequest, FaultType
from chaos.spec.models import TargetKind
from chaos.targets.base import Target


def target_to_json(target: Target) -> dict[str, Any]:
    return {
        "kind": target.kind.value,
        "uid": target.uid,
        "display": target.display,
        "node": target.node,
        "labels": dict(target.labels),
        "pid": target.pid,
        "start_time": target.start_time,
        "attributes": dict(target.attributes),
    }


def target_from_json(raw: Mapping[str, Any]) -> Target:
    return Target(
        kind=TargetKind(raw["kind"]),
        uid=str(raw["uid"]),
        display=str(raw["display"]),
        node=str(raw["node"]),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        pid=int(raw["pid"]) if raw.get("pid") is not None else None,
        start_time=int(raw["start_time"]) if raw.get("start_time") is not None else None,
        attributes={str(k): str(v) for k, v in (raw.get("attributes") or {}).items()},
    )


def request_to_json(request: FaultRequest, *, fault: str) -> dict[str, Any]:
    return {
        "id": request.fault_id,
        "key": request.key,
        "fault": fault,
        "params": request.params.model_dump(mode="json", by_alias=True),
        "target": target_to_json(request.target),
        "peers": {
            name: [target_to_json(peer) for peer in peers] for name, peers in request.peers.items()
        },
        "ttl_s": request.ttl_s,
    }


def request_from_json(
    raw: Mapping[str, Any], *, catalog: Mapping[str, FaultType]
) -> tuple[FaultType, FaultRequest]:
    """Parse and validate a request; FaultError (naming the field) when it is malformed."""
    try:
        fault = catalog[str(raw["fault"])]
    except KeyError as exc:
        raise FaultError(f"unknown fault {raw.get('fault')!r}") from exc
    try:
        params = fault.params.model_validate(raw.get("params") or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise FaultError(f"{fault.name}: invalid params: {problems}") from exc
    try:
        target = target_from_json(raw["target"])
        peers = {
            str(name): tuple(target_from_json(peer) for peer in group)
            for name, group in (raw.get("peers") or {}).items()
        }
        ttl = raw.get("ttl_s")
        request = FaultRequest(
            fault_id=str(raw["id"]),
            key=str(raw.get("key") or raw["id"]),
            target=target,
            params=params,
            peers=peers,
            ttl_s=float(ttl) if ttl is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FaultError(f"{fault.name}: malformed request: {exc!r}") from exc
    return fault, request
