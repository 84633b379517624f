"""The chart's workloads: the agent DaemonSet reaches what its drivers need on the node,
the controller finds exactly the agents the chart runs and halts its experiments before
it stops, the Locust workers find their master, and the docs' install command works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import (
    CHART,
    NAMESPACE,
    ROOT,
    VALUE_SETS,
    Render,
    Rendered,
    agent_pod,
    controller_pod,
    env_of,
    host_paths,
    mounts,
    run_helm,
)

# ---------------------------------------------------------------- the agent DaemonSet


@pytest.mark.parametrize("values", VALUE_SETS)
def test_agents_see_the_node_but_not_the_api(render: Render, values: str | None) -> None:
    rendered = render(values)
    pod = agent_pod(rendered)
    assert pod["hostPID"] is True
    assert pod["automountServiceAccountToken"] is False
    account = rendered.one("ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    for binding in rendered.all("RoleBinding") + rendered.all("ClusterRoleBinding"):
        assert all(s["name"] != pod["serviceAccountName"] for s in binding["subjects"])
    paths = host_paths(pod)
    assert paths["journal"] == "/var/lib/chaos/journal"
    assert paths["cgroup"] == "/sys/fs/cgroup"
    agent = pod["containers"][0]
    assert mounts(agent)["/var/lib/chaos/journal"].get("readOnly") is not True
    assert mounts(agent)["/sys/fs/cgroup"].get("readOnly") is not True
    # a revert takes time: the agent gets it before SIGKILL, on every node, whatever the taint
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert {"operator": "Exists"} in pod["tolerations"]
    assert agent["args"][:2] == ["--node", "$(NODE_NAME)"]
    assert env_of(agent)["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}


@pytest.mark.parametrize(
    ("values", "socket", "directory"),
    [
        (None, "/run/containerd/containerd.sock", "/run/containerd"),
        ("values-full.yaml", "/var/run/crio/crio.sock", "/var/run/crio"),
        ("values-capabilities.yaml", "/run/k3s/containerd/containerd.sock", "/run/k3s/containerd"),
    ],
)
def test_agent_reaches_the_cri_socket(
    render: Render, values: str | None, socket: str, directory: str
) -> None:
    pod = agent_pod(render(values))
    agent = pod["containers"][0]
    assert env_of(agent)["CHAOS_CRI_SOCKET"] == socket
    assert host_paths(pod)["cri"] == directory
    assert mounts(agent)[directory]["readOnly"] is True


def _scope_flags(args: list[str]) -> list[str]:
    flags = []
    for index, arg in enumerate(args):
        if arg.startswith("--scope-"):
            takes_value = arg not in ("--scope-node", "--scope-allow-ram-backed")
            flags.append(f"{arg}={args[index + 1]}" if takes_value else arg)
    return flags


@pytest.mark.parametrize(
    ("values", "sets", "expected"),
    [
        (None, (), ["--scope-runtime=containerd"]),
        ("values-full.yaml", (), ["--scope-runtime=cri-o"]),
        (
            None,
            ("agent.cri.runtime=custom", "agent.cri.socketPath=/run/x.sock"),
            ["--scope-runtime=containerd", "--scope-runtime=cri-o"],
        ),
        (
            None,
            (
                "agent.scope.runtimes={docker}",
                "agent.scope.cgroups={/kubepods.slice}",
                "agent.scope.labs={shop}",
                "agent.scope.node=true",
                "agent.scope.ramDisks={/mnt/disk}",
                "agent.scope.allowRamBacked=true",
            ),
            [
                "--scope-runtime=docker",
                "--scope-cgroup=/kubepods.slice",
                "--scope-lab=shop",
                "--scope-node",
                "--scope-ram-disk=/mnt/disk",
                "--scope-allow-ram-backed",
            ],
        ),
    ],
)
def test_agent_scope_comes_from_values(
    render: Render, values: str | None, sets: tuple[str, ...], expected: list[str]
) -> None:
    """The agent acts only on its runtime's containers unless the values widen its scope."""
    agent = agent_pod(render(values, *sets))["containers"][0]
    assert _scope_flags(agent["args"]) == expected


def test_agent_is_privileged_by_default(render: Render) -> None:
    agent = agent_pod(render())["containers"][0]
    assert agent["securityContext"]["privileged"] is True
    assert agent["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_capability_only_agent(render: Render) -> None:
    rendered = render("values-capabilities.yaml")
    pod = agent_pod(rendered)
    context = pod["containers"][0]["securityContext"]
    assert context["privileged"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == {
        "SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT", "NET_ADMIN", "NET_RAW", "KILL",
        "DAC_OVERRIDE", "DAC_READ_SEARCH",
    }  # fmt: skip
    assert context["seccompProfile"] == {"type": "Unconfined"}
    assert context["appArmorProfile"] == {"type": "Unconfined"}
    # in the node's network namespace it listens on the node IP only, not every interface
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    args = pod["containers"][0]["args"]
    assert args[args.index("--listen") + 1] == "$(POD_IP):7070"
    assert env_of(pod["containers"][0])["PATH"].startswith("/usr/local/lib/chaos/iptables-legacy:")
    assert "xtables-lock" not in host_paths(pod)


def test_agent_security_context_override_wins(render: Render) -> None:
    rendered = render(None, "agent.securityContext.privileged=true", "agent.privileged=false")
    context = agent_pod(rendered)["containers"][0]["securityContext"]
    assert context == {"privileged": True}


# ---------------------------------------------------------------- controller


@pytest.mark.parametrize("values", VALUE_SETS)
def test_controller_finds_the_agents_this_chart_runs(render: Render, values: str | None) -> None:
    rendered = render(values)
    controller = controller_pod(rendered)["containers"][0]
    env = env_of(controller)
    agents = rendered.one("DaemonSet", "chaos-agent")["spec"]["template"]
    selector = dict(pair.split("=") for pair in env["CHAOS_AGENT_SELECTOR"].split(","))
    assert selector.items() <= agents["metadata"]["labels"].items()
    assert selector["app.kubernetes.io/name"] == "chaos-agent"
    assert (
        int(env["CHAOS_AGENT_PORT"]) == agents["spec"]["containers"][0]["ports"][0]["containerPort"]
    )
    assert env["CHAOS_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert controller["args"][:4] == ["controller", "serve", "--listen", "0.0.0.0:8080"]


def test_controller_defaults(render: Render) -> None:
    rendered = render()
    template = rendered.one("Deployment", "chaos-controller")["spec"]["template"]
    controller = template["spec"]["containers"][0]
    env = env_of(controller)
    assert env["CHAOS_AGENT_SCHEME"] == "http"
    assert env["CHAOS_AGENT_TOKEN"] == {
        "secretKeyRef": {"name": "chaos-agent-token", "key": "token"}
    }
    assert "CHAOS_DB" not in env  # SQLite under CHAOS_HOME
    assert env["CHAOS_HOME"] == "/var/lib/chaos"
    assert controller["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert controller["livenessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert controller["securityContext"]["readOnlyRootFilesystem"] is True
    ports = rendered.one("Service", "chaos-controller")["spec"]["ports"]
    assert [p["port"] for p in ports] == [8080]  # no Locust master port without workers


def test_full_values(render: Render) -> None:
    rendered = render("values-full.yaml")
    agent_template = rendered.one("DaemonSet", "chaos-agent")["spec"]["template"]
    agent = agent_template["spec"]["containers"][0]
    # mTLS with the Secrets named, token from the existing Secret, probes without a client cert
    assert agent["args"][agent["args"].index("--tls-cert") + 1] == "/etc/chaos/tls/tls.crt"
    assert agent["args"][agent["args"].index("--token-file") + 1] == "/etc/chaos/token/bearer"
    secrets = {v["name"]: v["secret"]["secretName"] for v in agent_template["spec"]["volumes"]
               if "secret" in v}  # fmt: skip
    assert secrets == {"token": "my-agent-token", "tls": "chaos-agent-tls"}
    assert "tcpSocket" in agent["livenessProbe"]
    assert "prometheus.io/scrape" not in agent_template["metadata"].get("annotations", {})
    assert rendered.all("Secret") == []  # every secret is an existing one
    controller = controller_pod(rendered)["containers"][0]
    env = env_of(controller)
    assert env["CHAOS_AGENT_SCHEME"] == "https"
    assert env["CHAOS_DB"] == {"secretKeyRef": {"name": "chaos-postgres", "key": "dsn"}}
    assert env["CHAOS_ALLOWED_NAMESPACES"] == "shop,payments,search"
    assert "tcpSocket" in controller["readinessProbe"]  # the API itself wants client certs
    # experiments from values, mounted where `chaos run` is pointed at them
    data = rendered.one("ConfigMap", "chaos-experiments")["data"]
    assert yaml.safe_load(data["shop-pod-kill.yaml"])["metadata"]["name"] == "shop-pod-kill"
    assert yaml.safe_load(data["as-object.yml"])["metadata"] == {"name": "as-object"}
    assert "/etc/chaos/experiments" in mounts(controller)
    pvc = rendered.one("PersistentVolumeClaim", "chaos-controller-data")
    assert pvc["spec"]["storageClassName"] == "fast"


def test_locust_workers_join_the_master_in_the_controller(render: Render) -> None:
    rendered = render("values-full.yaml")
    workers = rendered.one("Deployment", "chaos-locust-worker")
    assert workers["spec"]["replicas"] == 4
    worker = workers["spec"]["template"]["spec"]["containers"][0]
    script = worker["command"][-1]
    assert "python -m chaos.load.main --worker" in script
    assert "-f -" in script
    env = env_of(worker)
    assert env["LOCUST_MASTER_HOST"] == "chaos-controller.chaos.svc"
    ports = {
        p["name"]: p["port"] for p in rendered.one("Service", "chaos-controller")["spec"]["ports"]
    }
    assert ports["locust-master"] == int(env["LOCUST_MASTER_PORT"]) == 5557
    assert workers["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_network_policies_admit_only_the_controller_to_agents(render: Render) -> None:
    rendered = render("values-full.yaml")
    policy = rendered.one("NetworkPolicy", "chaos-agent")
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers[0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "chaos-controller"
    assert peers[1]["namespaceSelector"]  # agentFrom: the monitoring namespace
    assert render().all("NetworkPolicy") == []


# ---------------------------------------------------------------- the docs, and stopping


def test_the_docs_install_command_mounts_the_docs_experiment(helm: Path, tmp_path: Path) -> None:
    """docs/kubernetes.md installs its experiment with --set-file; it arrives intact."""
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    experiment = next(
        block
        for block in re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL)
        if block.startswith("apiVersion: chaos/v1")
    )
    assert "--set-file 'experiments.web-pod-kill\\.yaml=web-pod-kill.yaml'" in docs
    (tmp_path / "web-pod-kill.yaml").write_text(experiment)
    done = run_helm(
        helm,
        "template", "chaos", str(CHART), "-n", NAMESPACE,
        "--set", "allowedNamespaces={demo}",
        "--set-file", f"experiments.web-pod-kill\\.yaml={tmp_path / 'web-pod-kill.yaml'}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rendered = Rendered(done.stdout)
    data = rendered.one("ConfigMap", "chaos-experiments")["data"]
    assert data["web-pod-kill.yaml"].strip() == experiment.strip()
    namespace = yaml.safe_load(experiment)["spec"]["targets"]["web"]["selector"]["namespace"]
    assert rendered.one("RoleBinding", "chaos-targets", namespace=namespace)


FAKE_CHAOS = """\
import signal, sys, time
from pathlib import Path
log = Path(sys.argv[-1])
signals = []
def halt(signum, frame):
    signals.append(signum)
    log.write_text(f"{sys.argv[1]} got {len(signals)}")
signal.signal(signal.SIGTERM, halt)
log.write_text(f"{sys.argv[1]} started")
while len(signals) < 2:
    time.sleep(0.05)
time.sleep(0.5)  # "reverting"
log.write_text(f"{sys.argv[1]} reverted after {len(signals)}")
"""


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare (the hook is tried in a PID namespace of its own)",
)
def test_controller_prestop_halts_running_experiments(render: Render, tmp_path: Path) -> None:
    """The preStop hook SIGTERMs every `chaos run` twice and waits for it to exit; it leaves
    other processes (here an agent) alone. Run in a new PID namespace, so it sees only the
    processes this test starts."""
    container = controller_pod(render())["containers"][0]
    hook = container["lifecycle"]["preStop"]["exec"]["command"]
    assert hook[:2] == ["python", "-c"]
    fake = tmp_path / "bin" / "chaos"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\n{FAKE_CHAOS}")
    fake.chmod(0o755)
    run_log, agent_log = tmp_path / "run.log", tmp_path / "agent.log"
    script = (
        f'"{fake}" run "{run_log}" & "{fake}" agent "{agent_log}" & agent=$!; sleep 1; '
        f'"{sys.executable}" -c "$HOOK"; echo "hook exit $?"; kill -KILL "$agent"; wait'
    )
    done = subprocess.run(
        ["unshare", "--pid", "--kill-child", "--mount-proc", "sh", "-c", script],
        env={**os.environ, "HOOK": hook[2]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "hook exit 0" in done.stdout, done.stdout + done.stderr
    assert run_log.read_text() == "run reverted after 2"
    assert agent_log.read_text() == "agent started"  # never signalled by the hook
