"""Ask a CRI runtime (containerd, CRI-O) for a container's PID, over gRPC with raw bytes.

Kubernetes nodes expose the Container Runtime Interface on a unix socket. Only one
call matters here, ``runtime.v1.RuntimeService/ContainerStatus`` with ``verbose``:
its ``info["info"]`` JSON carries the PID of the container's init process (both
containerd and CRI-O put it under ``"pid"``). Generated stubs would pull in
protobuf and thousands of lines for two small messages, so they are encoded and
decoded by hand: the protobuf wire format needs only varints and length-delimited
fields for these messages, and any other field is skipped, as protobuf itself does.

Errors follow one rule so that :mod:`chaos.host.runtimes` can try the next way:
``TargetError`` is the runtime's own answer (no such container), ``HostError``
means no answer was had (no socket, no CRI service there, timeout, garbage).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import HostError, TargetError

CONTAINER_STATUS = "/runtime.v1.RuntimeService/ContainerStatus"

Scalar = int | bool | str | bytes
"""A field value: ints and bools go out as varints, str and bytes length-delimited
(an embedded message is the bytes of its own ``encode``)."""

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class ContainerState(enum.IntEnum):
    """``runtime.v1.ContainerState``."""

    CREATED = 0
    RUNNING = 1
    EXITED = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class ContainerStatus:
    """What ``ContainerStatus`` said about one container."""

    id: str
    state: ContainerState
    pid: int | None  # from the verbose info; None when the runtime did not say
    info: dict[str, str]


# -- the wire format --------------------------------------------------------------------


def encode(fields: Iterable[tuple[int, Scalar]]) -> bytes:
    """Protobuf bytes of ``(field number, value)`` pairs, in the order given.

    A repeated field is the same number given several times; a map entry is an
    embedded message ``{1: key, 2: value}``.
    """
    out = bytearray()
    for number, value in fields:
        if isinstance(value, bool | int):
            out += _varint(number << 3 | _VARINT) + _varint(int(value))
        else:
            raw = value.encode() if isinstance(value, str) else bytes(value)
            out += _varint(number << 3 | _LENGTH) + _varint(len(raw)) + raw
    return bytes(out)


def decode(data: bytes) -> dict[int, list[int | bytes]]:
    """Every varint and length-delimited field of a message, by number, in order.

    Fixed-width fields are skipped; a truncated or malformed message is a ValueError.
    """
    fields: dict[int, list[int | bytes]] = {}
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, position = _read_varint(data, position)
            fields.setdefault(number, []).append(value)
        elif wire_type == _LENGTH:
            size, position = _read_varint(data, position)
            if position + size > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
            fields.setdefault(number, []).append(data[position : position + size])
            position += size
        elif wire_type in (_FIXED64, _FIXED32):
            position += 8 if wire_type == _FIXED64 else 4
            if position > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
        else:
            raise ValueError(f"unsupported wire type {wire_type} for field {number}")
    return fields


def decode_map(entries: Iterable[int | bytes]) -> dict[str, str]:
    """A ``map<string, string>`` field: the embedded ``{1: key, 2: value}`` entries."""
    result: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, bytes):
            raise ValueError("a map entry is not a message")
        fields = decode(entry)
        result[_text(fields, 1)] = _text(fields, 2)
    return result


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 two's complement, as protobuf sends negative varints
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(data) and shift < 70:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise ValueError("truncated or overlong varint")


def _text(fields: dict[int, list[int | bytes]], number: int) -> str:
    values = fields.get(number) or [b""]
    last = values[-1]  # protobuf: the last occurrence of a singular field wins
    if not isinstance(last, bytes):
        raise ValueError(f"field {number} is not a string")
    return last.decode(errors="replace")


def _number(fields: dict[int, list[int | bytes]], number: int) -> int:
    last = (fields.get(number) or [0])[-1]
    if not isinstance(last, int):
        raise ValueError(f"field {number} is not a number")
    return last


# -- ContainerStatus ------------------------------------------------------------------


def container_status_request(container_id: str, *, verbose: bool = True) -> bytes:
    """``ContainerStatusRequest{container_id = 1, verbose = 2}``."""
    return encode([(1, container_id), (2, verbose)])


def parse_container_status(data: bytes) -> ContainerStatus:
    """``ContainerStatusResponse{status = 1, info = 2}``; ValueError when malformed."""
    response = decode(data)
    status_bytes = (response.get(1) or [b""])[-1]
    if not isinstance(status_bytes, bytes):
        raise ValueError("status is not a message")
    status = decode(status_bytes)
    info = decode_map(response.get(2, []))
    number = _number(status, 3)
    try:
        state = ContainerState(number)
    except ValueError:  # a state newer than this client: treat it as unknown
        state = ContainerState.UNKNOWN
    return ContainerStatus(
        id=_text(status, 1),
        state=state,
        pid=_pid_from_info(info),
        info=info,
    )


def _pid_from_info(info: dict[str, str]) -> int | None:
    try:
        verbose = json.loads(info.get("info", "null"))
    except ValueError:
        return None
    pid = verbose.get("pid") if isinstance(verbose, dict) else None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def call(socket_path: Path, method: str, request: bytes, *, timeout: float) -> bytes:
    """One unary gRPC call over a unix socket, bytes in and bytes out.

    A missing socket, a dead runtime, a timeout or a method the server does not
    have is a HostError; NOT_FOUND is a TargetError (the runtime's own answer).
    Any other status is a HostError naming the gRPC code and the server's detail.
    Messages name the method, not the socket: the caller says which socket it asked.
    """
    if not socket_path.exists():
        raise HostError("no socket there")
    import grpc  # imported here: the controller and CLI never need it

    where = method.rsplit("/", 1)[-1]
    # A unix socket needs no proxy; never let $http_proxy reroute this call.
    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(f"unix:{socket_path.absolute()}", options=options) as channel:
        stub = channel.unary_unary(method)  # no (de)serializers: raw bytes both ways
        try:
            return stub(request, timeout=timeout)
        except grpc.RpcError as exc:
            code, detail = exc.code(), exc.details() or "no detail"  # type: ignore[attr-defined]
            if code == grpc.StatusCode.NOT_FOUND:
                raise TargetError(f"{where}: not found: {detail}") from exc
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise HostError(
                    f"{where}: not implemented (no CRI v1 service there: CRI plugin disabled?)"
                ) from exc
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise HostError(f"{where}: no answer within {timeout:g}s") from exc
            raise HostError(f"{where}: {code.name}: {detail}") from exc


def container_status(socket_path: Path, container_id: str, *, timeout: float) -> ContainerStatus:
    """The verbose status of ``container_id`` from the CRI runtime at ``socket_path``."""
    raw = call(
        socket_path, CONTAINER_STATUS, container_status_request(container_id), timeout=timeout
    )
    try:
        return parse_container_status(raw)
    except ValueError as exc:
        raise HostError(f"ContainerStatus: undecodable answer: {exc}") from exc
