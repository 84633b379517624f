"""The wire form's typed models: what an agent accepts in ``POST /v1/faults`` and
``POST /v1/leases/renew``, checked before anything else looks at a request.

Every field has a type (strict: ``true`` is not a PID, ``"5"`` is not a TTL), a bound
and, for strings, a charset without NUL or control characters, so a hostile or
broken body is a 422 naming the field, never a crash deeper in. The bounds are far
above anything the controller sends: a PID fits the kernel's ``PID_MAX_LIMIT``
(2^22), ids fit a file name, maps hold at most 128 entries.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chaos.spec.models import TargetKind

PID_MAX_LIMIT = 1 << 22  # include/linux/threads.h: no PID is ever larger
MAX_ENTRIES = 128
MAX_FAULT_IDS = 1024  # ids in one renewal
MAX_TTL_S = 3600.0

# a fault id names chains, files and process tags: letters, digits and ._- only
FAULT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
FAULT_ID_RULE = "a fault id is 1-128 letters, digits and . _ - (starting alphanumeric)"
FaultId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=FAULT_ID_PATTERN)]
FaultName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]
# printable text of bounded length: no NUL, no control characters, no newlines
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(max_length=512, pattern=PRINTABLE)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=317, pattern=PRINTABLE)]
Value = Annotated[str, StringConstraints(max_length=4096, pattern=PRINTABLE)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class TargetBody(_Strict):
    kind: Annotated[TargetKind, Field(strict=False)]  # the enum's value, as JSON has it
    uid: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=PRINTABLE)]
    display: Text
    node: Annotated[str, StringConstraints(max_length=253, pattern=PRINTABLE)]
    labels: dict[Key, Value] = Field(default_factory=dict, max_length=MAX_ENTRIES)
    pid: int | None = Field(default=None, ge=1, le=PID_MAX_LIMIT)
    start_time: int | None = Field(default=None, ge=0, le=(1 << 63) - 1)
    attributes: dict[Key, Value] = Field(default_factory=dict, max_length=MAX_ENTRIES)


class RequestBody(_Strict):
    id: FaultId
    key: FaultId | None = None
    fault: FaultName
    params: dict[Key, Any] = Field(default_factory=dict, max_length=MAX_ENTRIES)
    target: TargetBody
    peers: dict[Key, Annotated[list[TargetBody], Field(max_length=MAX_ENTRIES)]] = Field(
        default_factory=dict, max_length=MAX_ENTRIES
    )
    # the range (0, MAX_TTL_S] is checked by the agent with its own message
    ttl_s: float | None = Field(default=None, ge=-1e9, le=1e9)


class RenewBody(_Strict):
    ids: list[FaultId] = Field(max_length=MAX_FAULT_IDS)
    ttl_s: float = Field(gt=0, le=MAX_TTL_S)
