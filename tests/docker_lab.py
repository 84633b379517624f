"""Docker for tests: a real engine, an image built offline, and containers that never outlive
their test.

There is no registry to pull from, so the image is a busybox-static rootfs (``sh``,
``sleep``, ``httpd`` and a page to serve) fed to ``docker import``. Each test gets
its own ``chaos.test=<uuid>`` label on every container it starts; selectors always
include it, so tests never see (let alone fault) a container they did not make, and
the cleanup removes exactly those containers, even when the test fails.

The engine is driven with the ``docker`` CLI, not the SDK under test, so state
checks (``docker inspect``) are independent of the code they check. With no engine
the tests skip, except in CI (``CI=true``), where a missing engine fails them:
``.ci/run`` is supposed to have started one.

Modules use the fixtures by re-exporting them (``docker_lab = lab.docker_lab``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IMAGE = "chaos-test-busybox:1"  # bump the tag when the rootfs below changes
TEST_LABEL = "chaos.test"
APPLETS = ("sh", "sleep", "httpd", "true")
# sh as PID 1 ignores SIGTERM unless it traps it: with the trap a stop takes milliseconds
SLEEPER = ("/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
HTTPD_PORT = 8080
HTTPD = ("/bin/sh", "-c", f"trap 'exit 0' TERM; httpd -f -p {HTTPD_PORT} -h /www & wait")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def docker(*args: str, check: bool = True, timeout: float = 60, stdin: bytes | None = None):
    """Run the docker CLI; a failure shows its stderr."""
    result = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {result.returncode}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (.ci/run installs docker.io)"
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if result.returncode != 0:
        return f"docker info failed: {result.stderr.decode(errors='replace').strip()}"
    return None


def require_engine() -> None:
    problem = engine_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"CI needs a Docker engine (.ci/run starts dockerd): {problem}")
    pytest.skip(f"no Docker engine answers: {problem}")


def rootfs_tar() -> bytes:
    """A tar of a minimal rootfs: /bin/busybox (static) and its applets, /www/index.html."""
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        raise AssertionError("/bin/busybox is missing: install busybox-static (.ci/run does)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "www"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        page = b"chaos test page\n"
        info = tarfile.TarInfo("www/index.html")
        info.size, info.mode = len(page), 0o644
        tar.addfile(info, io.BytesIO(page))
    return buffer.getvalue()


def ensure_image() -> str:
    """Build the test image offline unless the engine already has it."""
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        docker("import", "-", IMAGE, stdin=rootfs_tar(), timeout=120)
    return IMAGE


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    port: int | None = None  # the loopback port published to the container's httpd


@dataclass
class DockerLab:
    """Containers of one test, all labelled ``chaos.test=<test_id>``."""

    image: str
    test_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def selector_labels(self, **labels: str) -> dict[str, str]:
        return {TEST_LABEL: self.test_id, **labels}

    def name(self, short: str) -> str:
        return f"chaos-t-{self.test_id[:10]}-{short}"

    def start(
        self,
        short: str,
        *,
        labels: Mapping[str, str] | None = None,
        command: Sequence[str] = SLEEPER,
        port: int | None = None,
        options: Sequence[str] = (),
    ) -> Container:
        """Start a container; with ``port``, the httpd command and 127.0.0.1:port published;
        ``options`` go to ``docker run`` as they are (e.g. ``--tmpfs /data:size=8m``)."""
        argv = ["run", "-d", "--name", self.name(short), "--label", f"{TEST_LABEL}={self.test_id}"]
        argv += list(options)
        for key, value in (labels or {}).items():
            argv += ["--label", f"{key}={value}"]
        if port is not None:
            argv += ["-p", f"127.0.0.1:{port}:{HTTPD_PORT}"]
            command = HTTPD
        container_id = docker(*argv, self.image, *command).stdout.decode().strip()
        container = Container(id=container_id, name=self.name(short), port=port)
        if self.status(container) != "running":
            logs = docker("logs", container_id, check=False)
            raise AssertionError(f"{container.name} did not start: {logs.stderr.decode()}")
        return container

    def inspect(self, container: Container, template: str) -> str:
        result = docker("inspect", "--format", template, container.id, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else ""

    def status(self, container: Container) -> str:
        """Docker's State.Status (running, paused, exited…), or "gone"."""
        return self.inspect(container, "{{.State.Status}}") or "gone"

    def wait_status(self, container: Container, wanted: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.status(container)) != wanted and time.monotonic() < deadline:
            time.sleep(0.05)
        return status

    def remove(self, container: Container) -> None:
        docker("rm", "-f", container.id)

    def cleanup(self) -> None:
        listed = docker("ps", "-aq", "--filter", f"label={TEST_LABEL}={self.test_id}", check=False)
        ids = listed.stdout.decode().split()
        if ids:
            docker("rm", "-f", *ids, check=False)


@pytest.fixture(scope="session")
def docker_image() -> str:
    require_engine()
    return ensure_image()


@pytest.fixture
def docker_lab(docker_image: str) -> Iterator[DockerLab]:
    lab = DockerLab(image=docker_image)
    try:
        yield lab
    finally:
        lab.cleanup()
