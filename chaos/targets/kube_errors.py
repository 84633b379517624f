"""Kubernetes API failures, told in the words an operator acts on.

The API server answers an error with a ``Status`` object (``reason``, ``message``,
``code``). A 403 is nearly always a missing RBAC rule, so it is reported as the
verb, resource and namespace to grant; a timeout or a refused connection names
the API server that does not answer. ``KubeApiError`` keeps the HTTP status so
callers can tell "gone" (404) and "replaced" (409 on a uid precondition) apart
from real failures. Nothing here imports the Kubernetes client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chaos.errors import TargetError


@dataclass(frozen=True)
class ApiCall:
    """What was asked of the API, for the error message."""

    verb: str  # list, get, delete, patch, create
    resource: str  # pods, nodes, pods/eviction
    namespace: str | None = None  # None: a cluster-scoped resource, or every namespace
    name: str | None = None

    def subject(self) -> str:
        if self.name:
            where = f"{self.namespace}/{self.name}" if self.namespace else self.name
            return f"{self.resource} {where}"
        return f"{self.resource} in namespace {self.namespace}" if self.namespace else self.resource


class KubeApiError(TargetError):
    """The API server refused a request (``status`` set) or did not answer (``status`` None)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        api_message: str = "",
        target: str | None = None,
        node: str | None = None,
    ) -> None:
        super().__init__(message, target=target, node=node)
        self.status = status
        self.api_message = api_message


def status_message(body: str | bytes | None, reason: str | None) -> str:
    """The ``message`` of a Status body, else the body's start, else the HTTP reason."""
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text)
        except ValueError:
            return text.strip()[:300]
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
        return text.strip()[:300]
    return reason or ""


def refused(
    call: ApiCall,
    *,
    status: int,
    reason: str | None,
    body: str | bytes | None,
    host: str,
    target: str | None = None,
) -> KubeApiError:
    """The error for an HTTP error answer of the API server."""
    api_message = status_message(body, reason)
    subject = call.subject()
    if status == 403:
        scope = f"in namespace {call.namespace}" if call.namespace else "(cluster-wide)"
        text = f"RBAC forbids {call.verb} {call.resource} {scope}: {api_message}"
    elif status == 401:
        text = (
            f"the Kubernetes API server at {host} rejected our credentials "
            f"(401 Unauthorized): {api_message}"
        )
    elif status == 404:
        text = f"{subject} not found (404): {api_message}"
    elif status == 409:
        text = f"{call.verb} {subject} conflicts with its current state (409): {api_message}"
    elif status == 429:
        text = f"{call.verb} {subject} refused for now (429 Too Many Requests): {api_message}"
    else:
        code = f"{status} {reason}" if reason else str(status)
        text = f"{call.verb} {subject} failed ({code}): {api_message}"
    return KubeApiError(text, status=status, api_message=api_message, target=target)


def unreachable(host: str, detail: str, *, target: str | None = None) -> KubeApiError:
    """The error for a request that got no answer: refused, reset, timed out, TLS failure."""
    return KubeApiError(
        f"the Kubernetes API server at {host} does not answer ({detail})",
        status=None,
        target=target,
    )
