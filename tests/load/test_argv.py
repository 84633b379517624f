"""The commands that run Locust and the built-in locustfile: pure builders, compared whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaos.load.argv import (
    MasterAddress,
    builtin_locustfile_source,
    master_address,
    master_argv,
    remote_worker_argv,
    standalone_argv,
    worker_argv,
)
from chaos.spec.load import LoadSpec


def spec(**fields: Any) -> LoadSpec:
    return LoadSpec.model_validate(
        {"host": "http://127.0.0.1:8080", "tasks": [{"path": "/"}], **fields}
    )


def test_standalone_command() -> None:
    argv = standalone_argv(spec(users=50, spawnRate=12.5), python="py", locustfile=Path("/w/f.py"))
    assert argv == [
        "py", "-m", "chaos.load.main", "-f", "/w/f.py", "--headless", "-u", "50", "-r", "12.5",
        "-H", "http://127.0.0.1:8080", "--only-summary",
    ]  # fmt: skip
    assert standalone_argv(spec(users=7), python="py", locustfile=Path("f.py"))[9] == "7"


def test_master_and_worker_commands() -> None:
    address = MasterAddress("0.0.0.0", 5557, "127.0.0.1")
    argv = master_argv(
        spec(workers=2, remoteWorkers=3), python="py", locustfile=Path("/w/f.py"), address=address
    )
    assert argv[-7:] == [
        "--master", "--expect-workers", "5", "--master-bind-host", "0.0.0.0",
        "--master-bind-port", "5557",
    ]  # fmt: skip
    assert worker_argv(python="py", locustfile="/w/f.py", master_host="h", master_port=9) == [
        "py", "-m", "chaos.load.main", "--worker", "--master-host", "h", "--master-port", "9",
        "-f", "/w/f.py",
    ]  # fmt: skip
    assert remote_worker_argv("10.0.0.5", 5557)[-3:] == ["5557", "-f", "-"]


def test_master_address_per_shape() -> None:
    assert master_address(spec()) is None
    local = master_address(spec(workers=2), free_port=lambda: 40001)
    assert local == MasterAddress("127.0.0.1", 40001, "127.0.0.1")
    remote = master_address(spec(workers=1, remoteWorkers=1, masterBind="0.0.0.0:6000"))
    assert remote == MasterAddress("0.0.0.0", 6000, "127.0.0.1")
    bound = master_address(spec(remoteWorkers=1, masterBind="10.1.2.3:6000"))
    assert bound == MasterAddress("10.1.2.3", 6000, "10.1.2.3")


def test_builtin_locustfile_embeds_the_tasks() -> None:
    tasks = [{"path": "/items?q='x'", "method": "POST", "body": '{"a": "b"}', "status": [200, 201]}]
    source = builtin_locustfile_source(spec(tasks=tasks, wait="250ms", timeout="2s"))
    compile(source, "generated.py", "exec")
    assert "wait=0.25, timeout=2.0" in source
    embedded = json.loads(eval(source.split("json.loads(", 1)[1].split(")\n", 1)[0]))
    assert embedded[0]["path"] == "/items?q='x'" and embedded[0]["status"] == [200, 201]
