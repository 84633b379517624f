"""A small Chrome DevTools Protocol client: Debian's headless Chromium, driven over its
DevTools websocket, for the tests that open the HTML report in a real browser.

It starts its own Chromium (own profile directory, own process group) and stops it by
that process group. Everything a page reports as a problem -- uncaught exceptions,
console errors and warnings, browser log errors (a failed resource load) -- is kept
in :attr:`Browser.problems`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers have a tiny /dev/shm
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """Chromium did not start, or did not answer a command in time."""


class Browser:
    """One headless Chromium with one page, for use in a ``with`` block."""

    def __init__(self, workdir: Path, *, binary: Path = CHROMIUM, timeout: float = 30.0) -> None:
        self.workdir = workdir
        self.binary = binary
        self.timeout = timeout
        self.problems: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: websocket.WebSocket | None = None
        self._session: str | None = None
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "chromium.log"
        with log.open("wb") as stderr:  # a file, not a pipe: Chromium can never block on it
            self._process = subprocess.Popen(
                [str(self.binary), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, stopped as one in close()
            )
        url = self._devtools_url(log)
        self._socket = websocket.create_connection(
            url, timeout=self.timeout, suppress_origin=True, enable_multithread=False
        )
        target = self._call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self._call(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def _devtools_url(self, log: Path) -> str:
        deadline = time.monotonic() + self.timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            found = _LISTENING.search(log.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self._process.poll() is not None:
                raise BrowserError(
                    f"chromium exited with {self._process.returncode}: {log.read_text()[-2000:]}"
                )
            time.sleep(0.05)
        raise BrowserError(f"chromium printed no DevTools URL in {self.timeout}s")

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._socket.close()
            self._socket = None
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    # ------------------------------------------------------------ protocol

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command to the page and return its result."""
        return self._call(method, params or {}, session=True)

    def _call(self, method: str, params: dict[str, Any], *, session: bool) -> dict[str, Any]:
        assert self._socket is not None
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _receive(self) -> dict[str, Any]:
        assert self._socket is not None
        try:
            message = json.loads(self._socket.recv())
        except websocket.WebSocketTimeoutException as exc:
            raise BrowserError(f"no answer from chromium in {self.timeout}s") from exc
        if "method" in message:
            self._events.append(message)
            self._note_problem(message["method"], message.get("params", {}))
        return message

    def _note_problem(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            shown = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught exception: {shown}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "warning",
            "assert",
        ):
            words = " ".join(
                str(arg.get("value", arg.get("description"))) for arg in params["args"]
            )
            self.problems.append(f"console.{params['type']}: {words}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.problems.append(f"log error ({entry.get('source')}): {entry.get('text')}")

    def wait_for(self, method: str) -> dict[str, Any]:
        """The params of the next ``method`` event (one already received counts)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for index, event in enumerate(self._events):
                if event["method"] == method:
                    del self._events[: index + 1]
                    return event.get("params", {})
            self._receive()
        raise BrowserError(f"no {method} event in {self.timeout}s")

    # ------------------------------------------------------------ page

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> None:
        """Load ``url`` in a ``width`` pixels wide window and wait for its load event."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self._events.clear()
        navigated = self.call("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"navigating to {url}: {navigated['errorText']}")
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """A PNG of the whole page (or of ``clip``: x, y, width, height in CSS pixels)."""
        if clip is None:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
        )
        return base64.b64decode(shot["data"])


# ---------------------------------------------------------------- PNG reading


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (which must be there)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_scanlines(data: bytes) -> bytes:
    """The decompressed image data of a PNG (filtered rows, each led by its filter type)."""
    return zlib.decompress(b"".join(_chunks(data, b"IDAT")))


def png_pixels(data: bytes) -> list[tuple[int, ...]]:
    """Every pixel of an 8-bit RGB or RGBA PNG, row by row (undoing the row filters)."""
    width, height = png_size(data)
    depth, colour = data[24], data[25]
    if depth != 8 or colour not in (2, 6):
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour}")
    channels = 3 if colour == 2 else 4
    raw = png_scanlines(data)
    stride = width * channels
    pixels: list[tuple[int, ...]] = []
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        pixels += [tuple(line[i : i + channels]) for i in range(0, stride, channels)]
        previous = line
    return pixels


def _chunks(data: bytes, kind: bytes) -> list[bytes]:
    found, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == kind:
            found.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return found


def _unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> bytearray:
    if kind == 0:
        return line
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = above[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        else:
            corner = above[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
    return line


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
