"""Client of the TCP proxy's control API (see ``chaos.host.tcpproxy``).

Every failure (proxy unreachable, HTTP 4xx/5xx, malformed answer) becomes a
``HostError`` that names the URL and the link, chained to the original exception.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from chaos.errors import HostError
from chaos.host.tcpproxy import LinkSpec

# No ProxyHandler entries: an http_proxy variable in the environment must never
# send loopback control traffic somewhere else.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class LinkInfo(LinkSpec):
    """One link as the proxy reports it, with its active toxics."""

    toxics: tuple[dict[str, Any], ...]


def _toxic_path(link: str, toxic_id: str) -> str:
    return f"/links/{quote(link, safe='')}/toxics/{quote(toxic_id, safe='')}"


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def _request(
    control_url: str, *, method: str, path: str, timeout: float, what: str, body: Any = None
) -> Any:
    url = control_url.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise HostError(
            f"proxy refused to {what}: HTTP {exc.code} from {method} {url}: {_error_detail(exc)}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise HostError(f"could not {what}: proxy control API {url} failed: {exc}") from exc


def health(control_url: str, *, timeout: float = 2.0) -> bool:
    """True when the proxy answers ``/health``; False when it is unreachable or unwell."""
    try:
        body = _request(control_url, method="GET", path="/health", timeout=timeout, what="check")
    except HostError:
        return False
    return isinstance(body, dict) and body.get("ok") is True


def list_links(control_url: str, *, timeout: float = 2.0) -> list[LinkInfo]:
    body = _request(control_url, method="GET", path="/links", timeout=timeout, what="list links")
    try:
        return [LinkInfo(**{**raw, "toxics": tuple(raw.get("toxics", ()))}) for raw in body]
    except (TypeError, AttributeError) as exc:
        raise HostError(f"unexpected /links answer from {control_url}: {body!r}") from exc


def put_toxic(
    control_url: str,
    *,
    link: str,
    toxic_id: str,
    toxic: dict[str, Any],
    ttl_s: float | None,
    timeout: float = 2.0,
) -> None:
    """Apply (or replace: same id) a toxic; ``ttl_s`` makes the proxy remove it by itself."""
    _request(
        control_url,
        method="PUT",
        path=_toxic_path(link, toxic_id),
        body={**toxic, "ttl_s": ttl_s},
        timeout=timeout,
        what=f"apply toxic {toxic_id!r} on link {link!r}",
    )


def delete_toxic(control_url: str, *, link: str, toxic_id: str, timeout: float = 2.0) -> bool:
    """Remove a toxic; False if it was not there (already expired or removed)."""
    body = _request(
        control_url,
        method="DELETE",
        path=_toxic_path(link, toxic_id),
        timeout=timeout,
        what=f"remove toxic {toxic_id!r} from link {link!r}",
    )
    return bool(body.get("removed")) if isinstance(body, dict) else False


def delete_all_toxics(control_url: str, *, timeout: float = 2.0) -> int:
    """Remove every toxic on every link; returns how many were removed."""
    body = _request(
        control_url, method="DELETE", path="/toxics", timeout=timeout, what="remove all toxics"
    )
    return int(body.get("removed", 0)) if isinstance(body, dict) else 0
