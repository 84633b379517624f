"""Built-in HTTP load: a FastHttpUser made from an experiment's ``load.tasks``.

Imported only inside the Locust subprocess. The controller writes a small locustfile
(see :func:`chaos.load.argv.builtin_locustfile_source`) that embeds the tasks as
JSON and calls :func:`build_user_class`, so the same file works on workers elsewhere
that fetch it from the master with ``-f -`` (they need the chaos package installed,
as they do to run ``python -m chaos.load.main``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from locust import constant
from locust.contrib.fasthttp import FastHttpUser

from chaos.spec.load import LoadTask

USER_CLASS_NAME = "ChaosBuiltinUser"


def status_failure(status: int, accepted: Sequence[int]) -> str:
    """The failure message of an unexpected status, e.g. "status 503, expected 200"."""
    return f"status {status}, expected {', '.join(str(code) for code in accepted)}"


def request_task(task: LoadTask) -> Callable[[FastHttpUser], None]:
    """A Locust task making ``task``'s request; a status outside ``task.status`` fails."""
    accepted = frozenset(task.status)
    method = task.method.value
    name = task.name or task.path
    headers = dict(task.headers) or None

    def request(user: FastHttpUser) -> None:
        with user.client.request(
            method, task.path, name=name, data=task.body, headers=headers, catch_response=True
        ) as response:
            error = getattr(response, "error", None)
            if response.status_code in accepted:
                response.success()
            elif not response.status_code and error is not None:
                response.failure(error)  # no answer at all: refused, reset, timed out
            else:
                response.failure(status_failure(response.status_code, task.status))

    request.__name__ = f"{method} {name}"
    return request


def build_user_class(
    tasks: Sequence[Mapping[str, Any]],
    *,
    wait: float,
    timeout: float,
    name: str = USER_CLASS_NAME,
) -> type[FastHttpUser]:
    """A FastHttpUser class running ``tasks`` (LoadTask dicts) in proportion to their weight.

    Each user waits ``wait`` seconds between requests; a request that takes longer than
    ``timeout`` seconds (to connect, or between bytes) fails.
    """
    parsed = [LoadTask.model_validate(task) for task in tasks]
    if not parsed:
        raise ValueError("built-in load needs at least one task")
    weights = {request_task(task): task.weight for task in parsed}

    class BuiltinUser(FastHttpUser):
        tasks = weights
        wait_time = constant(wait)
        network_timeout = timeout
        connection_timeout = timeout

    BuiltinUser.__name__ = BuiltinUser.__qualname__ = name
    return BuiltinUser
