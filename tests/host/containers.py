"""Real container runtimes for the resolver tests: Docker containers and a private containerd.

Docker: the image is made offline (``docker import`` of a rootfs holding Debian's
static busybox), every container carries a label unique to the test session and is
removed in ``finally``.

containerd: a private daemon (own root, state, socket and cgroup parent under a
temporary directory, CRI plugin on, every plugin that would reach a network off)
that serves the real CRI v1 API. Pods run with the host's network, so no CNI is
needed; the image is an OCI layout built here and loaded with ``ctr import``.
Teardown removes the pods through CRI, kills the daemon we started (by its PID),
then any shim that still names our private socket, unmounts what is left under the
directory and removes it, and the cgroups named after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chaos.errors import ChaosError
from chaos.host import cri

BUSYBOX = Path("/bin/busybox")
DOCKER_IMAGE = "chaos-runtimes-busybox:test"
CRI_IMAGE = "docker.io/library/chaos-runtimes-busybox:test"
SLEEP = ["/bin/busybox", "sleep", "3600"]
RUNTIME_SERVICE = "/runtime.v1.RuntimeService/"


def _run(argv: list[str], *, input: bytes | None = None, timeout: float = 60) -> str:
    done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


def rootfs_tar() -> bytes:
    """A tar of the smallest useful rootfs: busybox, with sleep and sh linked to it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for name in ("sleep", "sh"):
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buffer.getvalue()


# -- Docker ---------------------------------------------------------------------------


def docker_answers() -> str | None:
    """None when a Docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI"
    try:
        done = subprocess.run(["docker", "version"], capture_output=True, timeout=20, check=False)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"no Docker engine answers: {exc}"
    if done.returncode != 0:
        return f"no Docker engine answers: {done.stderr.decode(errors='replace').strip()}"
    return None


def ensure_docker_image() -> str:
    present = subprocess.run(
        ["docker", "image", "inspect", DOCKER_IMAGE], capture_output=True, check=False
    )
    if present.returncode != 0:
        _run(["docker", "import", "-", DOCKER_IMAGE], input=rootfs_tar())
    return DOCKER_IMAGE


@dataclass
class DockerContainers:
    """Starts sleeping containers labelled for this session; ``remove_all`` cleans up."""

    label: str = field(default_factory=lambda: f"chaos-runtimes-test={secrets.token_hex(4)}")

    def start(self) -> str:
        image = ensure_docker_image()
        return _run(["docker", "run", "-d", "--label", self.label, image, *SLEEP])

    def stop(self, container_id: str) -> None:
        _run(["docker", "stop", "-t", "0", container_id])

    def pause(self, container_id: str) -> None:
        _run(["docker", "pause", container_id])

    def unpause(self, container_id: str) -> None:
        _run(["docker", "unpause", container_id])

    def exec_sleep(self, container_id: str) -> None:
        """A second process in the container, started after its init."""
        _run(["docker", "exec", "-d", container_id, *SLEEP])

    def state_pid(self, container_id: str) -> int:
        return int(_run(["docker", "inspect", "-f", "{{.State.Pid}}", container_id]))

    def remove_all(self) -> None:
        ids = _run(["docker", "ps", "-aq", "--filter", f"label={self.label}"]).split()
        if ids:
            _run(["docker", "rm", "-f", *ids])


# -- a private containerd with the CRI plugin -----------------------------------------


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_archive(directory: Path) -> Path:
    """An OCI image layout archive of the busybox rootfs, named CRI_IMAGE, running SLEEP."""
    layout = directory / "layout"
    layer = rootfs_tar()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": SLEEP},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(layout, json.dumps(config).encode()),
        },
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **_blob(layout, layer)}],
    }
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **_blob(layout, json.dumps(manifest).encode()),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": CRI_IMAGE},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    archive = directory / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(layout.rglob("*")):
            tar.add(entry, arcname=str(entry.relative_to(layout)), recursive=False)
    return archive


def _config(base: Path) -> str:
    return f"""version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  sandbox_image = "{CRI_IMAGE}"
  # CRI gives pause containers oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE,
  # which a test sandbox may lack ("failed to update /proc/self/oom_score_adj")
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{base}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{base}/cni/bin"
    conf_dir = "{base}/cni/net.d"
"""


@dataclass
class PrivateContainerd:
    """One containerd we started; ``socket`` serves CRI v1 (runtime.v1.RuntimeService)."""

    base: Path
    process: subprocess.Popen[bytes]
    cgroup_parent: str
    sandboxes: list[str] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.base / "containerd.sock"

    def log(self) -> str:
        return (self.base / "containerd.log").read_text(errors="replace")

    def call(self, method: str, fields: list[tuple[int, cri.Scalar]]) -> dict:
        raw = cri.call(self.socket, RUNTIME_SERVICE + method, cri.encode(fields), timeout=30)
        return cri.decode(raw)

    def sandbox_config(self, name: str) -> bytes:
        metadata = cri.encode([(1, name), (2, secrets.token_hex(8)), (3, "chaos-test")])
        host_network = cri.encode([(1, 2)])  # NamespaceOption.network = NODE: no CNI needed
        security = cri.encode([(1, host_network)])
        linux = cri.encode([(1, self.cgroup_parent), (2, security)])
        logs = self.base / "logs" / name
        logs.mkdir(parents=True, exist_ok=True)
        return cri.encode([(1, metadata), (3, str(logs)), (8, linux)])

    def run_container(self, name: str) -> str:
        """Start a pod sandbox and one sleeping container in it; the container's id."""
        sandbox_config = self.sandbox_config(name)
        sandbox = self.call("RunPodSandbox", [(1, sandbox_config)])[1][0].decode()
        self.sandboxes.append(sandbox)
        container_config = cri.encode(
            [
                (1, cri.encode([(1, name)])),
                (2, cri.encode([(1, CRI_IMAGE)])),
                *((3, part) for part in SLEEP),
                (11, f"{name}.log"),
            ]
        )
        created = self.call(
            "CreateContainer", [(1, sandbox), (2, container_config), (3, sandbox_config)]
        )
        container = created[1][0].decode()
        self.call("StartContainer", [(1, container)])
        return container

    def stop_container(self, container_id: str) -> None:
        self.call("StopContainer", [(1, container_id), (2, 0)])


def containerd_missing() -> str | None:
    for binary in ("containerd", "ctr", "containerd-shim-runc-v2", "runc"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed"
    return None


@contextlib.contextmanager
def private_containerd() -> Iterator[PrivateContainerd]:
    base = Path(tempfile.mkdtemp(prefix="chaos-ctrd-"))
    cgroup_parent = f"/{base.name}"
    runtime: PrivateContainerd | None = None
    try:
        (base / "config.toml").write_text(_config(base))
        with (base / "containerd.log").open("wb") as log:
            process = subprocess.Popen(
                ["containerd", "--config", str(base / "config.toml")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        runtime = PrivateContainerd(base=base, process=process, cgroup_parent=cgroup_parent)
        _wait_serving(runtime)
        archive = oci_archive(base)
        _run(
            ["ctr", "--address", str(runtime.socket), "--namespace", "k8s.io", "images",
             "import", "--snapshotter", "native", str(archive)]
        )  # fmt: skip
        yield runtime
    finally:
        _teardown(base, runtime)


def _wait_serving(runtime: PrivateContainerd, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runtime.process.poll() is not None:
            raise RuntimeError(f"containerd exited at start:\n{runtime.log()}")
        with contextlib.suppress(ChaosError):
            runtime.call("Version", [(1, "v1")])
            return
        time.sleep(0.1)
    raise RuntimeError(f"containerd did not serve CRI within {timeout}s:\n{runtime.log()}")


def _teardown(base: Path, runtime: PrivateContainerd | None) -> None:
    if runtime is not None:
        for sandbox in runtime.sandboxes:
            for method in ("StopPodSandbox", "RemovePodSandbox"):
                with contextlib.suppress(ChaosError):
                    runtime.call(method, [(1, sandbox)])
        if runtime.process.poll() is None:
            runtime.process.send_signal(signal.SIGTERM)
            try:
                runtime.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                runtime.process.kill()
                runtime.process.wait()
        if _kill_our_shims(base):  # only when a pod could not be removed through CRI
            _remove_shim_sockets(runtime.socket, runtime.sandboxes)
    _kill_cgroup_members(base.name)
    _unmount_under(base)
    shutil.rmtree(base, ignore_errors=True)
    _remove_cgroups(base.name)


def _kill_our_shims(base: Path) -> bool:
    """Shims outlive containerd by design; ours are those naming our private socket."""
    ours, killed = str(base / "containerd.sock").encode(), False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"containerd-shim-runc-v2") and ours in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed = True
    return killed


def _remove_shim_sockets(socket: Path, sandboxes: list[str]) -> None:
    """A killed shim leaves its socket where containerd 1.6 puts them all:
    /run/containerd/s/sha256(<containerd socket>/<namespace>/<sandbox id>)."""
    for sandbox in sandboxes:
        digest = hashlib.sha256(f"{socket}/k8s.io/{sandbox}".encode()).hexdigest()
        with contextlib.suppress(OSError):
            Path("/run/containerd/s", digest).unlink()


def _kill_cgroup_members(name: str) -> None:
    """Processes left in the pods' cgroup parent (a killed shim leaves its containers)."""
    top = Path("/sys/fs/cgroup/pids", name)
    if not top.is_dir():
        return
    for _ in range(50):
        pids = {
            int(pid) for procs in top.rglob("cgroup.procs") for pid in procs.read_text().split()
        }
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _unmount_under(base: Path) -> None:
    mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
    points = [line.split()[4] for line in mountinfo]
    for point in sorted((p for p in points if p.startswith(f"{base}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _remove_cgroups(name: str) -> None:
    """The pods' cgroup parent, in every hierarchy, deepest first (runc leaves it)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / name
        if not top.is_dir():
            continue
        nested = [path for path in top.rglob("*") if path.is_dir()]
        for directory in [*sorted(nested, key=lambda p: len(p.parts), reverse=True), top]:
            with contextlib.suppress(OSError):
                directory.rmdir()
