"""The Docker backend selects real running containers by label, name and host, and says clearly
when a Docker host does not answer."""

from __future__ import annotations

import os
import socket

import pytest

from chaos.errors import TargetError
from chaos.spec.models import DockerHost, Selector, TargetKind
from chaos.targets.base import Scope
from chaos.targets.docker import DockerBackend
from tests import docker_lab as lab

pytestmark = pytest.mark.docker

docker_image = lab.docker_image
docker_lab = lab.docker_lab

LOCAL = DockerBackend([DockerHost(name="local")])
SCOPE = Scope()


def default_socket_url() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


def test_selects_running_containers_whose_labels_all_match(docker_lab: lab.DockerLab):
    web0 = docker_lab.start("web-0", labels={"app": "web", "tier": "front"})
    web1 = docker_lab.start("web-1", labels={"app": "web"})
    docker_lab.start("db", labels={"app": "db"})
    stopped = docker_lab.start("web-stopped", labels={"app": "web"})
    lab.docker("stop", stopped.id)

    found = LOCAL.candidates(
        selector=Selector(labels=docker_lab.selector_labels(app="web")), scope=SCOPE
    )

    assert sorted(t.attributes["name"] for t in found) == sorted([web0.name, web1.name])
    target = next(t for t in found if t.attributes["name"] == web0.name)
    assert target.kind is TargetKind.CONTAINER
    assert target.uid == f"local/{web0.id}"
    assert target.display == f"container {web0.name} on local"
    assert target.node == "local" and target.pid is None
    assert target.labels["tier"] == "front" and target.labels["app"] == "web"
    assert target.attributes["container_id"] == f"docker://{web0.id}"
    assert target.attributes["docker_host"] == "local"
    assert target.attributes["docker_url"] == ""
    assert target.attributes["ip"] == docker_lab.inspect(web0, "{{.NetworkSettings.IPAddress}}")
    assert "agent" not in target.attributes  # the host has none configured

    narrower = docker_lab.selector_labels(app="web", tier="front")
    assert [t.uid for t in LOCAL.candidates(selector=Selector(labels=narrower), scope=SCOPE)] == [
        f"local/{web0.id}"
    ]


def test_selects_by_exact_container_name(docker_lab: lab.DockerLab):
    web0 = docker_lab.start("web-0")
    docker_lab.start("web-00")
    by_name = LOCAL.candidates(selector=Selector(names=(web0.name,)), scope=SCOPE)
    assert [t.uid for t in by_name] == [f"local/{web0.id}"]  # web-00 shares the prefix only
    prefix = docker_lab.name("web")
    assert LOCAL.candidates(selector=Selector(names=(prefix,)), scope=SCOPE) == []
    both = Selector(labels=docker_lab.selector_labels(), names=(web0.name, "no-such-container"))
    assert [t.uid for t in LOCAL.candidates(selector=both, scope=SCOPE)] == [f"local/{web0.id}"]


def test_nothing_matching_is_an_empty_list(docker_lab: lab.DockerLab):
    docker_lab.start("web-0", labels={"app": "web"})
    nothing = Selector(labels=docker_lab.selector_labels(app="nothing"))
    assert LOCAL.candidates(selector=nothing, scope=SCOPE) == []


def test_every_host_is_searched_unless_the_selector_names_some(docker_lab: lab.DockerLab):
    # two host names for the one local engine: the daemon is the same, the targets are not
    backend = DockerBackend(
        [
            DockerHost(name="alpha"),
            DockerHost(name="beta", url=default_socket_url(), agent="http://127.0.0.1:9/"),
        ]
    )
    web = docker_lab.start("web-0", labels={"app": "web"})
    selector = Selector(labels=docker_lab.selector_labels(app="web"))

    found = backend.candidates(selector=selector, scope=SCOPE)
    assert sorted(t.uid for t in found) == [f"alpha/{web.id}", f"beta/{web.id}"]

    (beta,) = backend.candidates(
        selector=selector.model_copy(update={"hosts": ("beta",)}), scope=SCOPE
    )
    assert beta.node == "beta" and beta.display == f"container {web.name} on beta"
    assert beta.attributes["docker_url"] == default_socket_url()
    assert beta.attributes["agent"] == "http://127.0.0.1:9/"
    assert backend.exists(beta)


def test_exists_follows_the_very_container(docker_lab: lab.DockerLab):
    web = docker_lab.start("web-0")
    (target,) = LOCAL.candidates(selector=Selector(names=(web.name,)), scope=SCOPE)
    assert LOCAL.exists(target)
    lab.docker("pause", web.id)
    assert LOCAL.exists(target)  # paused still exists
    lab.docker("unpause", web.id)
    lab.docker("stop", web.id)
    assert not LOCAL.exists(target)  # exited: not a live target any more
    lab.docker("start", web.id)
    assert LOCAL.exists(target)  # the same container, started again
    docker_lab.remove(web)
    assert not LOCAL.exists(target)
    successor = docker_lab.start("web-0")  # same name, another container
    assert successor.id != web.id and not LOCAL.exists(target)


@pytest.mark.parametrize(
    "url", ["unix:///nonexistent.sock", f"tcp://127.0.0.1:{closed_port()}"], ids=["unix", "tcp"]
)
def test_a_docker_host_that_does_not_answer_is_a_target_error_naming_it(url: str):
    backend = DockerBackend([DockerHost(name="ghost", url=url)])
    with pytest.raises(TargetError) as raised:
        backend.candidates(selector=Selector(labels={"app": "web"}), scope=SCOPE)
    error = raised.value
    assert "docker host ghost" in error.message and url in error.message
    assert "does not answer" in error.message and error.node == "ghost"
    assert error.exit_code == 4


def test_an_unknown_host_in_the_selector_is_refused():
    with pytest.raises(TargetError, match="unknown docker host"):
        LOCAL.candidates(selector=Selector(labels={"a": "b"}, hosts=("elsewhere",)), scope=SCOPE)
