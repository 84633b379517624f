"""Run notifications to Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat).

A subscriber of the run's event bus: on ``run.started`` and on the verdict it builds a
message and queues it for one background thread per URL. The bus calls subscribers on
the run loop's own thread — also on the path that reverts faults — so the call only
queues: a slow, hanging or refusing endpoint costs the run nothing, and one bad URL
never delays another. Delivery retries with exponential backoff and jitter on
connection errors, timeouts, 5xx, 408 and 429 (honouring ``Retry-After``), then gives
up and logs it; it never raises into the bus. ``close()`` waits for what is queued
with a deadline, so a hanging endpoint never keeps a finished run's process alive.

A webhook URL is its own credential (anyone holding a Slack one can post to the
channel): logs and errors show its scheme, host and port, never its path.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import random
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from chaos import __version__
from chaos.controller.events import Event, EventKind
from chaos.controller.webhook_messages import started_message, verdict_message
from chaos.errors import UsageError

log = logging.getLogger(__name__)

ENV_VAR = "CHAOS_WEBHOOKS"  # comma-separated URLs
RETRY_AFTER_CAP_S = 60.0  # a Retry-After beyond this is waited for this long, no longer
_RETRYABLE_STATUS = frozenset({408, 429})


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T/B/secret`` → ``https://hooks.slack.com``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme or '?'}://{host}" + (f":{port}" if port else "")


# ---------------------------------------------------------------- delivery


@dataclass(frozen=True)
class _Notice:
    kind: str
    run_id: str
    body: bytes


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would silently become a GET without its body: fail instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (now or time.time())
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


class _Channel:
    """One URL: its own queue and thread, so one hanging endpoint never delays another."""

    def __init__(self, url: str, notifier: WebhookNotifier) -> None:
        self.url, self.shown, self._notifier = url, redact_url(url), notifier
        self._queue: queue.SimpleQueue[_Notice | None] = queue.SimpleQueue()
        self._opener = urllib.request.build_opener(_NoRedirects())
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, notice: _Notice) -> None:
        with self._lock:
            if self._thread is None:  # started by the first message, not at construction
                self._thread = threading.Thread(
                    target=self._loop, name=f"webhook {self.shown}", daemon=True
                )
                self._thread.start()
        self._queue.put(notice)

    def stop(self, timeout: float) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=max(0.0, timeout))

    def _loop(self) -> None:
        while (notice := self._queue.get()) is not None:
            try:
                delivered = self._deliver(notice)
            except Exception:  # a bug here must not kill the thread and hang close()
                log.exception("webhook %s: delivery of %s failed", self.shown, notice.kind)
                delivered = False
            self._notifier._finished(delivered=delivered)

    def _deliver(self, notice: _Notice) -> bool:
        what = f"{notice.kind} of run {notice.run_id}"
        notifier, abandon = self._notifier, self._notifier._abandon
        attempt, result = 0, _Attempt(ok=False, retryable=False, detail="abandoned at close")
        while attempt < notifier.attempts and not abandon.is_set():
            attempt += 1
            result = self._post(notice.body)
            if result.ok:
                log.debug("webhook %s: delivered %s (attempt %d)", self.shown, what, attempt)
                return True
            if not result.retryable or attempt == notifier.attempts:
                break
            delay = notifier.backoff(attempt, result.retry_after)
            log.info(
                "webhook %s: %s for %s, retrying in %.2fs (attempt %d of %d)",
                *(self.shown, result.detail, what, delay, attempt, notifier.attempts),
            )
            if abandon.wait(delay):
                result = _Attempt(False, False, f"{result.detail}; abandoned at close")
        log.warning(
            "webhook %s: gave up on %s after %d attempt(s): %s",
            *(self.shown, what, attempt, result.detail),
        )
        return False

    def _post(self, body: bytes) -> _Attempt:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"chaos/{__version__}"},
        )
        try:
            with self._opener.open(request, timeout=self._notifier.timeout_s) as response:
                response.read(65536)
                return _Attempt(ok=True, retryable=False, detail=f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            answer = _answer(exc)
            retryable = exc.code >= 500 or exc.code in _RETRYABLE_STATUS
            detail = self._scrub(f"HTTP {exc.code}" + (f" {answer!r}" if answer else ""))
            return _Attempt(False, retryable, detail, retry_after_s(exc.headers.get("Retry-After")))
        except urllib.error.URLError as exc:  # no answer: refused, DNS, TLS, connect timeout
            permanent = isinstance(exc.reason, ssl.SSLCertVerificationError)
            return _Attempt(False, not permanent, self._scrub(_describe(exc.reason)))
        except (OSError, ValueError, http.client.HTTPException) as exc:  # timeout, reset, garbage
            return _Attempt(False, True, self._scrub(_describe(exc)))

    def _scrub(self, text: str) -> str:
        path = urllib.parse.urlsplit(self.url).path
        text = text.replace(self.url, self.shown)
        return text.replace(path, "/…") if len(path) > 1 else text


def _answer(exc: urllib.error.HTTPError) -> str:
    try:
        with exc:
            return exc.read(200).decode("utf-8", "replace").strip()
    except (OSError, ValueError, http.client.HTTPException):
        return ""


def _describe(exc: object) -> str:
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)


class WebhookNotifier:
    """Event-bus subscriber posting run start and verdict to each URL, never blocking."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout_s: float = 5.0,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"webhook URL {redact_url(url)}/… is not an http(s) URL")
        if attempts < 1:
            raise UsageError("webhook attempts must be at least 1")
        self.timeout_s, self.attempts = timeout_s, attempts
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._channels = [_Channel(url, self) for url in dict.fromkeys(urls)]
        self._experiments: dict[str, str] = {}  # run id → experiment, from run.started
        self._rng = random.Random()
        self._abandon = threading.Event()
        self._idle = threading.Condition()
        self._pending = self.delivered = self.given_up = 0
        self._closed = False
        self.__name__ = "webhooks"  # how the event bus names a failing subscriber

    @classmethod
    def from_env(
        cls,
        urls: Sequence[str] = (),
        *,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> WebhookNotifier | None:
        """The ``--webhook`` URLs if any were given, else ``$CHAOS_WEBHOOKS`` (comma-
        separated); None when neither names one. UsageError (exit 2) for a bad URL."""
        env = os.environ if environ is None else environ
        chosen = [u.strip() for u in urls if u.strip()] or [
            u.strip() for u in env.get(ENV_VAR, "").split(",") if u.strip()
        ]
        return cls(chosen, **options) if chosen else None

    @property
    def urls(self) -> tuple[str, ...]:
        """The URLs, redacted (safe to print)."""
        return tuple(channel.shown for channel in self._channels)

    def __call__(self, event: Event) -> None:
        """Queue the message for each URL and return: never waits, never raises."""
        if event.kind not in (EventKind.RUN_STARTED, EventKind.VERDICT) or not self._channels:
            return
        try:
            body = json.dumps(self._message(event), default=str).encode()
        except Exception:  # a bad payload costs a notification, never the run
            log.exception(
                "webhooks: cannot build the %s message of run %s", event.kind, event.run_id
            )
            return
        notice = _Notice(event.kind.value, event.run_id, body)
        with self._idle:
            if self._closed:
                log.warning("webhooks closed: %s of run %s not sent", event.kind, event.run_id)
                return
            self._pending += len(self._channels)
        for channel in self._channels:
            channel.put(notice)

    def _message(self, event: Event) -> dict[str, Any]:
        with self._idle:  # one notifier may serve the runs of a whole service
            if event.kind is EventKind.RUN_STARTED:
                experiment = str(event.data.get("experiment") or "?")
                self._experiments[event.run_id] = experiment
            else:
                experiment = self._experiments.pop(event.run_id, "?")
        if event.kind is EventKind.RUN_STARTED:
            source = str(event.data.get("source", ""))
            return started_message(run_id=event.run_id, experiment=experiment, source=source)
        return verdict_message(run_id=event.run_id, experiment=experiment, data=event.data)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``attempt + 1``: exponential with jitter (half to all of
        ``backoff_s * 2**(attempt-1)``, capped), or the server's Retry-After if longer."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        delay = self._rng.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after) if retry_after is not None else delay

    def close(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` s for queued messages; then abandon the rest (logged).
        True when everything queued was delivered or given up on in time."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._closed = True
            drained = self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)
            left = self._pending
        if not drained:
            self._abandon.set()
            log.warning(
                "webhooks: %d message(s) abandoned at the %.1fs close deadline", left, timeout
            )
        for channel in self._channels:
            channel.stop(deadline - time.monotonic())
        return drained

    def _finished(self, *, delivered: bool) -> None:
        with self._idle:
            self._pending -= 1
            if delivered:
                self.delivered += 1
            else:
                self.given_up += 1
            self._idle.notify_all()
