"""The store: the bottom of the lab, a list of items behind GET /items and POST /items.

It depends on nothing, so every failure you see above it was injected on purpose. With
``--data-dir`` it keeps its items in ``items.json`` there, so a full disk (the disk-fill
fault on a netns lab's tmpfs) makes writes fail: ``POST /items`` then answers 507.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaos.lab.services.common import parse_args, serve

ITEMS = (
    {"id": 1, "name": "teapot", "stock": 3},
    {"id": 2, "name": "kettle", "stock": 0},
    {"id": 3, "name": "mug", "stock": 12},
)
DATA_FILE = "items.json"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class Store:
    """Items in memory, written through to ``data_dir/items.json`` when there is one."""

    def __init__(self, data_dir: Path | None) -> None:
        self._path = data_dir / DATA_FILE if data_dir else None
        self._lock = threading.Lock()
        self._items = self._load()
        if self._path is not None and not self._path.exists():
            self._persist(self._items)  # the file exists from the start

    def _load(self) -> list[dict[str, Any]]:
        if self._path is None or not self._path.exists():
            return [dict(item) for item in ITEMS]
        return list(json.loads(self._path.read_text())["items"])

    def _persist(self, items: list[dict[str, Any]]) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")  # tmp + rename: never half a file
        try:
            tmp.write_text(json.dumps({"items": items}))
            os.replace(tmp, self._path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def list(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            return 200, {"items": list(self._items)}

    def add(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return 400, {"error": 'expected {"name": str, "stock": int}'}
        with self._lock:
            item = {"id": max((i["id"] for i in self._items), default=0) + 1, **body}
            try:
                self._persist([*self._items, item])
            except OSError as exc:
                if exc.errno in _DISK_FULL:
                    return 507, {"error": f"disk full: {exc.strerror}"}
                return 500, {"error": f"cannot write items: {exc}"}
            self._items.append(item)  # only once it is on disk
        return 201, {"item": item}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(service="store", argv=argv)
    store = Store(args.data_dir)
    serve(
        service="store",
        host=args.host,
        port=args.port,
        routes={"/items": store.list},
        post_routes={"/items": store.add},
    )


if __name__ == "__main__":
    main()
