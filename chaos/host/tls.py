"""TLS contexts for mutual TLS between the controller and agents (stdlib ``ssl``)."""

from __future__ import annotations

import ssl
from pathlib import Path

from chaos.errors import HostError


def server_context(*, cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """An agent's context: present ``cert``, require a client certificate signed by ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    _load(context, cert=cert, key=key, ca=ca)
    return context


def client_context(*, cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """The controller's context: verify the agent against ``ca``, present our own ``cert``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    _load(context, cert=cert, key=key, ca=ca)
    return context


def _load(context: ssl.SSLContext, *, cert: Path, key: Path, ca: Path) -> None:
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
        context.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise HostError(f"cannot load TLS files ({cert}, {key}, {ca}): {exc}") from exc
