"""Who may call the controller API: a bearer token, a client certificate (mTLS), or both.

Checked in ASGI middleware in front of the routes, so a request without credentials is
refused before its body is parsed or any route runs. ``/healthz``, ``/metrics`` and
``/openapi.json`` are served to anyone (no secrets in them).
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from typing import Any

from chaos.service.limits import PEER_CERT, answer

PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json"})
REALM = "chaos-controller"


@dataclass(frozen=True)
class ControllerAuth:
    """``token``: the bearer token every request must carry. ``client_role``: the OU a
    client certificate must name (the TLS layer has already verified the certificate
    against the CA). Both set: both are required."""

    token: str | None = None
    client_role: str | None = None

    def refusal(self, scope: dict[str, Any]) -> tuple[int, str] | None:
        """None when the request may pass, else (401 or 403, why)."""
        if self.client_role is not None:
            role = peer_role(scope.get(PEER_CERT))
            if role is None:
                return 401, "client certificate required"
            if role != self.client_role:
                return 403, "this certificate's role may not call this API"
        if self.token is not None:
            header = dict(scope["headers"]).get(b"authorization", b"")
            if not header.startswith(b"Bearer "):
                return 401, "bearer token required"
            if not hmac.compare_digest(header[7:], self.token.encode()):
                return 403, "wrong token"
        return None


def peer_role(cert: dict[str, Any] | None) -> str | None:
    """The organizational unit of a verified client certificate: its role."""
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "organizationalUnitName":
                return str(value)
    return None


@dataclass
class RefusalCounter:
    """Requests refused for their credentials (``/metrics`` reports it)."""

    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self._lock:
            self.count += 1


class AuthGate:
    """ASGI middleware: every path but the public ones needs credentials."""

    def __init__(self, app: Any, *, auth: ControllerAuth, refused: RefusalCounter) -> None:
        self.app, self.auth, self.refused = app, auth, refused

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            return await self.app(scope, receive, send)
        refusal = self.auth.refusal(scope)
        if refusal is None:
            return await self.app(scope, receive, send)
        self.refused.add()
        status, why = refusal
        extra = [(b"www-authenticate", f'Bearer realm="{REALM}"'.encode())] if status == 401 else []
        # the body is not read: close, so its bytes are not taken for the next request
        await answer(send, status, {"error": why}, close=True, extra=extra)
