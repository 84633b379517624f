"""One HTTP exchange for a probe or a Prometheus query, reduced to (status, body, reason).

Shared by ``chaos.steady.probes`` (HTTP probes) and ``chaos.steady.prometheus``; it
never raises, because nothing answering is a failed sample, not an error.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request


def no_proxy_opener() -> urllib.request.OpenerDirector:
    """An opener without proxies: an http_proxy in the environment must not reroute probes."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def exchange(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, *, timeout: float
) -> tuple[int | None, bytes, str | None]:
    """(status, body, None) for any HTTP answer, error statuses included;
    (None, b"", reason) when nothing usable answered."""
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(), None
    except urllib.error.HTTPError as exc:
        return exc.code, _error_body(exc), None
    except TimeoutError:
        return None, b"", f"timed out after {timeout:g}s"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return None, b"", f"timed out after {timeout:g}s"
        return None, b"", f"cannot connect: {exc.reason}"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return None, b"", f"request failed: {exc}"


def _error_body(exc: urllib.error.HTTPError) -> bytes:
    if exc.fp is None:
        return b""
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""  # the status alone still tells what happened
