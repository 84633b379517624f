"""A real Prometheus for tests: started on a free loopback port with its storage in a
temporary directory, scraping every second a tiny metrics endpoint served by the test.

Import the fixtures ``metrics_endpoint`` and ``servers`` into a test module to use them
(module-scoped: one Prometheus per module). Needs the binary:
``apt-get install -y --no-install-recommends prometheus`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

METRICS = b"""\
# TYPE lab_queue_depth gauge
lab_queue_depth 7
# TYPE lab_requests_total counter
lab_requests_total{route="/items"} 3
lab_requests_total{route="/orders"} 5
# TYPE lab_odd gauge
lab_odd{kind="nan"} NaN
lab_odd{kind="up"} +Inf
lab_odd{kind="down"} -Inf
"""
START_TIMEOUT_S = 15.0


@dataclass
class Seen:
    """The last request the metrics endpoint received, apart from Prometheus's scrapes."""

    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased


class MetricsHandler(BaseHTTPRequestHandler):
    """Serves METRICS on every path, as text: a server that is not Prometheus."""

    seen: Seen

    def do_GET(self) -> None:
        if not self.path.startswith("/metrics"):
            self.seen.path = self.path
            self.seen.headers = {name.lower(): value for name, value in self.headers.items()}
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(METRICS)))
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Servers:
    prometheus: str
    metrics: str
    seen: Seen


def free_port() -> int:
    """A port nothing listens on (after this returns, connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found is None:
        pytest.skip(
            "needs the prometheus binary: "
            "apt-get install -y --no-install-recommends prometheus (Debian bookworm)"
        )
    return found


@pytest.fixture(scope="module")
def metrics_endpoint() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    handler = type("Handler", (MetricsHandler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def servers(
    metrics_endpoint: tuple[str, Seen], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    binary = prometheus_binary()
    target, seen = metrics_endpoint
    home = tmp_path_factory.mktemp("prometheus")
    config = home / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: lab, static_configs: [{{targets: ['{target}']}}]}}\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = (home / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:
        wait_for_first_scrape(url, process, home / "prometheus.log")
        yield Servers(prometheus=url, metrics=f"http://{target}", seen=seen)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_for_first_scrape(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Block until Prometheus answers and holds a sample of the endpoint's metrics."""
    query = f"{url}/api/v1/query?query=lab_queue_depth"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(query, timeout=1) as response:
                if json.load(response)["data"]["result"]:
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"prometheus did not scrape within {START_TIMEOUT_S:g}s:\n{log.read_text()}")
