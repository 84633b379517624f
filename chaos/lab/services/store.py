"""The store: the bottom of the lab, a fixed list of items behind GET /items.

It depends on nothing, so every failure you see above it was injected on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos.lab.services.common import parse_args, serve

ITEMS = (
    {"id": 1, "name": "teapot", "stock": 3},
    {"id": 2, "name": "kettle", "stock": 0},
    {"id": 3, "name": "mug", "stock": 12},
)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(service="store", argv=argv)
    serve(service="store", port=args.port, routes={"/items": lambda: (200, {"items": list(ITEMS)})})


if __name__ == "__main__":
    main()
