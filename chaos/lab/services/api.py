"""The api: GET /items asks the store (through its proxy link, if any) and adds who served it.

Fragile: waits forever on the store and turns any store error into a 502.
Resilient: a timeout, a circuit breaker around the store and a last-good fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos.lab.services.common import (
    Route,
    UpstreamError,
    Variant,
    fetch_json,
    labels_from_env,
    parse_args,
    serve,
)
from chaos.lab.services.resilience import (
    API_TO_STORE_TIMEOUT_S,
    CircuitBreaker,
    CircuitOpenError,
    LastGood,
)


def fragile_items(*, store_url: str, served_by: str) -> Route:
    def items() -> tuple[int, dict[str, Any]]:
        try:
            body = fetch_json(
                f"{store_url}/items", timeout=None
            )  # no timeout: hangs with the store
        except UpstreamError as exc:
            return 502, {"error": f"store failed: {exc}"}
        return 200, {"items": body["items"], "degraded": False, "served_by": served_by}

    return items


def resilient_items(*, store_url: str, served_by: str) -> Route:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=2.0)
    last_good: LastGood[list[Any]] = LastGood()

    def items() -> tuple[int, dict[str, Any]]:
        try:
            body = breaker.call(
                lambda: fetch_json(f"{store_url}/items", timeout=API_TO_STORE_TIMEOUT_S)
            )
        except (UpstreamError, CircuitOpenError) as exc:
            cached = last_good.recall()
            if cached is None:
                # 503, not a made-up answer: the web will try another replica.
                return 503, {"error": f"store unavailable and nothing cached: {exc}"}
            return 200, {"items": cached, "degraded": True, "served_by": served_by}
        last_good.remember(body["items"])
        return 200, {"items": body["items"], "degraded": False, "served_by": served_by}

    return items


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(service="api", argv=argv)
    (store_url,) = args.upstream
    served_by = f"api-{labels_from_env().get('replica', '0')}"
    make = resilient_items if args.variant is Variant.RESILIENT else fragile_items
    serve(
        service="api",
        host=args.host,
        port=args.port,
        routes={"/items": make(store_url=store_url, served_by=served_by)},
    )


if __name__ == "__main__":
    main()
