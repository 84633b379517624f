"""The wire form of a fault request, shared by the controller and the agents.

Both sides import the same package (no version skew); the agent re-validates
parameters with the fault's own model, so a request built by hand is checked
exactly like an experiment file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chaos.errors import FaultError
from chaos.faults.base import FaultRequest, FaultType
from chaos.faults.wire_models import RenewBody, RequestBody, TargetBody
from chaos.targets.base import Target

__all__ = [
    "RenewBody",
    "RequestBody",
    "TargetBody",
    "renew_from_json",
    "request_from_json",
    "request_to_json",
    "target_from_json",
    "target_to_json",
]

_M = TypeVar("_M", bound=BaseModel)
# the regular expression itself says little to a reader (and holds control characters)
_FRIENDLY = {
    "string_pattern_mismatch": "contains characters that are not allowed here "
    "(control characters, or outside the field's charset)"
}


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
    """A target from its wire form; FaultError naming the field when it is malformed."""
    return _target(_validated(TargetBody, raw, what="target"))


def _target(body: TargetBody) -> Target:
    return Target(
        kind=body.kind,
        uid=body.uid,
        display=body.display,
        node=body.node,
        labels=dict(body.labels),
        pid=body.pid,
        start_time=body.start_time,
        attributes=dict(body.attributes),
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
    raw: Any, *, catalog: Mapping[str, FaultType]
) -> tuple[FaultType, FaultRequest]:
    """Parse and validate a request; FaultError (naming the field) when it is malformed.

    The body is checked as a typed model first (types, bounds, charsets), so nothing
    past this point sees a wrong type, a huge number or a NUL byte.
    """
    body = _validated(RequestBody, raw, what="request")
    try:
        fault = catalog[body.fault]
    except KeyError as exc:
        raise FaultError(f"unknown fault {body.fault!r}") from exc
    try:
        params = fault.params.model_validate(body.params)
    except ValidationError as exc:
        raise FaultError(f"{fault.name}: invalid params: {_problems(exc)}") from exc
    request = FaultRequest(
        fault_id=body.id,
        key=body.key or body.id,
        target=_target(body.target),
        params=params,
        peers={name: tuple(_target(peer) for peer in group) for name, group in body.peers.items()},
        ttl_s=body.ttl_s,
    )
    return fault, request


def renew_from_json(raw: Any) -> RenewBody:
    """The body of ``POST /v1/leases/renew``; FaultError naming the field when malformed."""
    return _validated(RenewBody, raw, what="renewal")


def _validated(model: type[_M], raw: Any, *, what: str) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise FaultError(f"invalid {what}: {_problems(exc)}") from exc


def _problems(exc: ValidationError, *, limit: int = 5) -> str:
    """Each problem as ``field.path: message``; never the offending value itself."""
    errors = exc.errors(include_url=False, include_input=False)
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {_FRIENDLY.get(e['type'], e['msg'])}"
        for e in errors
    ]
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more
