"""The controller's client of one agent: one keep-alive connection, JSON in and out.

A connection per agent is reused for every call (apply, renew, revert), so a
fan-out to many agents costs one TCP (and TLS) handshake per agent per run,
not one per request.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from chaos.errors import AgentError, AgentUnreachable


@dataclass(frozen=True)
class AgentCredentials:
    token: str | None = None
    ssl_context: ssl.SSLContext | None = None
    # the name agent certificates are checked against instead of the URL's host: on
    # Kubernetes agents are reached by pod IP, unknown when their certificate is issued
    server_name: str | None = None

    def __repr__(self) -> str:  # never print the token
        return (
            f"AgentCredentials(token={'***' if self.token else None}, tls={bool(self.ssl_context)})"
        )


class AgentClient:
    def __init__(self, url: str, *, credentials: AgentCredentials, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentError(f"invalid agent URL {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._credentials = credentials
        self._timeout = timeout
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None

    # ------------------------------------------------------------ API

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/faults", request)

    def renew(self, ids: list[str], *, ttl_s: float) -> dict[str, Any]:
        return self._call("POST", "/v1/leases/renew", {"ids": ids, "ttl_s": ttl_s})

    def revert(self, fault_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/faults/{quote(fault_id, safe='')}")

    def revert_all(self) -> dict[str, Any]:
        return self._call("DELETE", "/v1/faults")

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/faults").get("faults", []))

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # ------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self._credentials.token:
            headers["Authorization"] = f"Bearer {self._credentials.token}"
        with self._lock:
            status, raw = self._exchange(method, path, data, headers)
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"error": raw[:200].decode(errors="replace")}
        if status >= 400:
            message = (
                payload.get("error", f"HTTP {status}") if isinstance(payload, dict) else status
            )
            error = AgentError(f"agent {self.url} answered {status} to {method} {path}: {message}")
            error.status = status  # type: ignore[attr-defined]
            raise error
        return payload if isinstance(payload, dict) else {"result": payload}

    def _exchange(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        # one retry on a fresh connection: the agent may have closed an idle keep-alive
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._connection = None
                retriable = isinstance(
                    exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                )
                if attempt == 2 or not retriable:
                    raise AgentUnreachable(f"agent {self.url} unreachable: {exc!r}") from exc
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = _HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._timeout,
                    context=self._credentials.ssl_context,
                    server_name=self._credentials.server_name,
                )
            else:
                self._connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
        return self._connection


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS that checks the peer's certificate against ``server_name`` when one is given."""

    def __init__(self, *args: Any, server_name: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server_name = server_name

    def connect(self) -> None:
        if self._server_name is None:
            super().connect()
            return
        http.client.HTTPConnection.connect(self)  # TCP only
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)  # type: ignore[attr-defined]
