"""Container reference → host PID, against real Docker, a real private containerd (CRI) and
/proc; plus the protobuf codec and the cgroup shapes, which need no runtime."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.errors import TargetError
from chaos.host import cri, procfs, runtimes
from chaos.host.runtimes import (
    ContainerNotFound,
    ContainerNotRunning,
    RuntimeSockets,
    cgroup_names_container,
    find_by_cgroup,
    resolve,
)
from tests.host import containers

ID = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
OTHER = "0" * 64
NOWHERE = Path("/nonexistent/chaos-test.sock")
DOCKERS_CONTAINERD = Path("/var/run/docker/containerd/containerd.sock")  # CRI plugin disabled


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


# -- the protobuf codec ---------------------------------------------------------------


def test_encoding_matches_the_protobuf_wire_format() -> None:
    # the protobuf documentation's own examples: varint 150 and the string "testing"
    assert cri.encode([(1, 150)]) == bytes.fromhex("089601")
    assert cri.encode([(2, "testing")]) == bytes.fromhex("120774657374696e67")
    assert cri.container_status_request("abc") == b"\x0a\x03abc\x10\x01"


def test_encode_decode_round_trip_keeps_every_field_in_order() -> None:
    nested = cri.encode([(1, "inner"), (2, 7)])
    message = cri.encode(
        [(1, "héllo"), (2, True), (3, 0), (4, 2**63 - 1), (5, -1), (6, nested), (6, b"\x00\xff")]
    )
    fields = cri.decode(message)
    assert fields[1] == ["héllo".encode()]
    assert fields[2] == [1] and fields[3] == [0] and fields[4] == [2**63 - 1]
    assert fields[5] == [2**64 - 1]  # int64 -1 travels as a 10-byte varint
    assert fields[6] == [nested, b"\x00\xff"]  # repeated: both, in order
    assert cri.decode(nested) == {1: [b"inner"], 2: [7]}


def test_decode_skips_fields_it_does_not_know() -> None:
    fixed64 = bytes([3 << 3 | 1]) + b"\x01" * 8
    fixed32 = bytes([4 << 3 | 5]) + b"\x02" * 4
    message = cri.encode([(1, "id")]) + fixed64 + fixed32 + cri.encode([(2, True)])
    assert cri.decode(message) == {1: [b"id"], 2: [1]}


@pytest.mark.parametrize(
    "broken",
    [b"\x0a\x05ab", b"\x08", b"\x08\xff", b"\x19\x01\x02", bytes([1 << 3 | 3])],
    ids=["short string", "missing varint", "truncated varint", "short fixed64", "group"],
)
def test_decode_rejects_malformed_messages(broken: bytes) -> None:
    with pytest.raises(ValueError):
        cri.decode(broken)


def _status_response(state: int, info: dict[str, str], container_id: str = ID) -> bytes:
    status = cri.encode([(1, container_id), (2, cri.encode([(1, "app")])), (3, state)])
    entries = [(2, cri.encode([(1, key), (2, value)])) for key, value in info.items()]
    return cri.encode([(1, status), *entries])


def test_container_status_response_is_decoded_with_the_pid_from_verbose_info() -> None:
    info = {"info": json.dumps({"sandboxID": "s1", "pid": 4242, "runtimeSpec": {}}), "x": "y"}
    status = cri.parse_container_status(_status_response(1, info))
    assert status.id == ID
    assert status.state is cri.ContainerState.RUNNING
    assert status.pid == 4242
    assert status.info["x"] == "y"


@pytest.mark.parametrize("info", [{}, {"info": "not json"}, {"info": '{"pid": 0}'}])
def test_a_status_without_a_usable_pid_says_none(info: dict[str, str]) -> None:
    assert cri.parse_container_status(_status_response(2, info)).pid is None


# -- references and cgroup shapes ------------------------------------------------------


@pytest.mark.parametrize("reference", ["", ID, "docker:/" + ID, "docker://", "docker://a/../b"])
def test_malformed_references_are_refused_by_name(reference: str) -> None:
    with pytest.raises(TargetError, match="not a container reference"):
        resolve(reference, sockets=RuntimeSockets(docker=None, cri=()))


@pytest.mark.parametrize(
    "path",
    [
        f"/docker/{ID}",
        f"/system.slice/docker-{ID}.scope",
        f"/kubepods/burstable/pod0a1b-2c3d/{ID}",
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b.slice/cri-containerd-{ID}.scope",
        f"/kubepods.slice/kubepods-pod0a1b.slice/crio-{ID}.scope",
        f"/machine.slice/libpod-{ID}.scope",
        f"/k8s.io/{ID}",
        f"/../../docker/{ID}",  # seen from inside another cgroup namespace
        f"/system.slice/docker-{ID}.scope/init",  # a nested cgroup of the container's own
    ],
)
def test_cgroup_shapes_of_every_runtime_name_the_container(path: str) -> None:
    assert cgroup_names_container(path, ID)


@pytest.mark.parametrize(
    "path",
    [
        f"/kubepods.slice/kubepods-pod0a1b.slice/crio-conmon-{ID}.scope",  # CRI-O's monitor
        f"/docker/{OTHER}",
        f"/docker/{ID}0",
        f"/docker/{ID[:12]}",
        f"/system.slice/docker-{ID}.service",
        "/",
    ],
)
def test_other_cgroups_do_not_name_the_container(path: str) -> None:
    assert not cgroup_names_container(path, ID)


def _fake_process(root: Path, pid: int, *, started: int, cgroup: str, state: str = "S") -> None:
    directory = root / str(pid)
    directory.mkdir()
    fields = [state, *["0"] * 18, str(started), "0"]
    (directory / "stat").write_text(f"{pid} (sleep me) {' '.join(fields)}\n")
    (directory / "cgroup").write_text(f"12:pids:{cgroup}\n0::/\n")


def test_cgroup_scan_takes_the_first_started_live_process_of_the_container(tmp_path: Path) -> None:
    _fake_process(tmp_path, 700, started=5000, cgroup=f"/docker/{ID}")  # a docker exec
    _fake_process(tmp_path, 900, started=4000, cgroup=f"/docker/{ID}")  # the init
    _fake_process(tmp_path, 100, started=10, cgroup=f"/docker/{ID}", state="Z")
    _fake_process(tmp_path, 200, started=20, cgroup=f"/crio-conmon-{ID}.scope")
    _fake_process(tmp_path, 300, started=30, cgroup=f"/docker/{OTHER}")
    (tmp_path / "self").mkdir()
    assert find_by_cgroup(ID, proc_root=tmp_path) == procfs.ProcessIdentity(900, 4000)
    assert find_by_cgroup("deadbeef", proc_root=tmp_path) is None


def test_an_unknown_runtime_is_found_by_the_cgroup_scan_alone(tmp_path: Path) -> None:
    _fake_process(tmp_path, 42, started=7, cgroup=f"/system.slice/libpod-{ID}.scope")
    found = resolve(f"podman://{ID}", sockets=RuntimeSockets(proc_root=tmp_path))
    assert found == procfs.ProcessIdentity(42, 7)


def test_nothing_anywhere_names_every_way_tried(tmp_path: Path) -> None:
    sockets = RuntimeSockets(docker=NOWHERE, cri=(NOWHERE,), proc_root=tmp_path)
    with pytest.raises(ContainerNotFound) as caught:
        resolve(f"docker://{ID}", sockets=sockets)
    message = str(caught.value)
    assert f"container docker://{ID} not found on this node" in message
    assert f"Docker API at {NOWHERE}: no socket there" in message
    assert f"cgroup scan of {tmp_path}: no process" in message
    with pytest.raises(ContainerNotFound, match=f"CRI at {NOWHERE}: no socket there"):
        resolve(f"cri-o://{ID}", sockets=sockets)


@contextlib.contextmanager
def _silent_socket(path: Path) -> Iterator[Path]:
    """A unix socket that accepts connections and never says a word."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_runtime_sockets_that_do_not_answer_fall_back_to_the_scan(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    _fake_process(proc, 77, started=9, cgroup=f"/kubepods/besteffort/pod1/{ID}")
    with _silent_socket(tmp_path / "mute.sock") as mute:
        sockets = RuntimeSockets(docker=mute, cri=(mute,), proc_root=proc, timeout=0.3)
        assert resolve(f"docker://{ID}", sockets=sockets) == procfs.ProcessIdentity(77, 9)
        assert resolve(f"containerd://{ID}", sockets=sockets) == procfs.ProcessIdentity(77, 9)
        (proc / "77" / "cgroup").write_text("0::/\n")
        with pytest.raises(ContainerNotFound) as caught:
            resolve(f"containerd://{ID}", sockets=sockets)
    assert f"CRI at {mute}: ContainerStatus: no answer within 0.3s" in str(caught.value)


def test_the_environment_names_an_extra_cri_socket_to_ask_first() -> None:
    env = {"CHAOS_CRI_SOCKET": "/run/k3s/containerd/containerd.sock"}
    sockets = RuntimeSockets.from_environment(env)
    assert sockets.cri[0] == Path("/run/k3s/containerd/containerd.sock")
    assert sockets.cri[1:] == runtimes.CRI_SOCKETS
    assert sockets.docker == runtimes.DOCKER_SOCKET
    moved = RuntimeSockets.from_environment({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"})
    assert moved.docker == Path("/run/user/1000/docker.sock")
    assert RuntimeSockets.from_environment({"DOCKER_HOST": "tcp://10.0.0.1:2376"}).docker == (
        runtimes.DOCKER_SOCKET
    )


# -- real Docker ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker() -> Iterator[containers.DockerContainers]:
    reason = containers.docker_answers()
    if reason:
        _skip_or_fail(reason)
    started = containers.DockerContainers()
    try:
        yield started
    finally:
        started.remove_all()


def _pid_of_docker(
    docker: containers.DockerContainers, container_id: str
) -> procfs.ProcessIdentity:
    identity = procfs.identity(docker.state_pid(container_id))
    assert identity is not None
    return identity


@pytest.mark.docker
def test_docker_reference_resolves_to_the_containers_init(docker) -> None:
    container = docker.start()
    found = resolve(f"docker://{container}", sockets=RuntimeSockets(cri=()))
    assert found == _pid_of_docker(docker, container)  # docker inspect's State.Pid, same start
    assert procfs.read_cmdline(found.pid) == containers.SLEEP


@pytest.mark.docker
def test_without_the_docker_api_the_cgroup_scan_finds_the_same_process(docker) -> None:
    container = docker.start()
    expected = _pid_of_docker(docker, container)
    docker.exec_sleep(container)  # a later process in the same cgroup is not the init
    assert resolve(f"docker://{container}", sockets=RuntimeSockets(docker=None)) == expected
    assert resolve(f"docker://{container}", sockets=RuntimeSockets(docker=NOWHERE)) == expected


@pytest.mark.docker
def test_containerd_reference_without_cri_falls_back_to_the_cgroup_scan(docker) -> None:
    container = docker.start()  # Docker's containers are containerd tasks with the same id
    expected = _pid_of_docker(docker, container)
    absent = RuntimeSockets(docker=None, cri=(NOWHERE,))
    assert resolve(f"containerd://{container}", sockets=absent) == expected
    if DOCKERS_CONTAINERD.exists():  # a real containerd that answers, but has no CRI
        no_cri = RuntimeSockets(docker=None, cri=(DOCKERS_CONTAINERD,))
        assert resolve(f"containerd://{container}", sockets=no_cri) == expected


@pytest.mark.docker
def test_a_stopped_docker_container_is_not_running(docker) -> None:
    container = docker.start()
    docker.stop(container)
    with pytest.raises(ContainerNotRunning) as caught:
        resolve(f"docker://{container}", sockets=RuntimeSockets(cri=()))
    assert str(caught.value).startswith(f"container docker://{container} is not running")
    assert "Docker says it is exited" in str(caught.value)


@pytest.mark.docker
def test_a_paused_docker_container_is_not_running(docker) -> None:
    container = docker.start()
    docker.pause(container)
    try:
        with pytest.raises(ContainerNotRunning, match="Docker says it is paused"):
            resolve(f"docker://{container}", sockets=RuntimeSockets(cri=()))
    finally:
        docker.unpause(container)


@pytest.mark.docker
def test_an_unknown_docker_container_is_not_found_without_a_scan(docker) -> None:
    del docker  # only needs the engine
    with pytest.raises(ContainerNotFound) as caught:
        resolve(f"docker://{OTHER}", sockets=RuntimeSockets(cri=()))
    message = str(caught.value)
    assert f"container docker://{OTHER} not found" in message
    assert "no such container" in message and "cgroup scan" not in message  # Docker's word


# -- a real CRI: a private containerd ---------------------------------------------------


@pytest.fixture(scope="module")
def containerd() -> Iterator[containers.PrivateContainerd]:
    reason = containers.containerd_missing()
    if reason:
        _skip_or_fail(reason)
    with containers.private_containerd() as runtime:
        yield runtime


def test_cri_resolves_a_running_containerd_container(containerd) -> None:
    container = containerd.run_container("resolve-me")
    sockets = RuntimeSockets(docker=None, cri=(NOWHERE, containerd.socket))
    found = resolve(f"containerd://{container}", sockets=sockets)
    assert procfs.read_cmdline(found.pid) == containers.SLEEP
    assert procfs.identity(found.pid) == found
    assert find_by_cgroup(container) == found  # the scan agrees with the runtime
    # the same CRI call serves cri-o:// references: only the socket differs
    assert resolve(f"cri-o://{container}", sockets=sockets) == found


def test_cri_socket_from_the_environment_is_asked_first(containerd, monkeypatch) -> None:
    container = containerd.run_container("from-env")
    monkeypatch.setenv("CHAOS_CRI_SOCKET", str(containerd.socket))
    found = resolve(f"containerd://{container}")
    assert procfs.read_cmdline(found.pid) == containers.SLEEP


def test_cri_unknown_container_is_not_found(containerd) -> None:
    sockets = RuntimeSockets(docker=None, cri=(containerd.socket,))
    with pytest.raises(ContainerNotFound) as caught:
        resolve(f"containerd://{OTHER}", sockets=sockets)
    message = str(caught.value)
    assert f"container containerd://{OTHER} not found on this node" in message
    assert f"CRI at {containerd.socket}: no such container" in message
    assert "cgroup scan" not in message  # the runtime answered: no guessing from /proc


def test_cri_stopped_container_is_not_running(containerd) -> None:
    container = containerd.run_container("stop-me")
    containerd.stop_container(container)
    sockets = RuntimeSockets(docker=None, cri=(containerd.socket,))
    with pytest.raises(ContainerNotRunning, match="the runtime says it is exited"):
        resolve(f"containerd://{container}", sockets=sockets)
