"""The web: GET / asks an api replica for /items and answers the shopper.

It receives one upstream URL per api replica (a proxy link, or the replica itself in a
netns lab). Fragile: the first replica only, no timeout, any error is a 502. Resilient:
failover across replicas with retries, exponential backoff and full jitter inside a time
budget, then a last-good fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos.lab.services.common import Route, UpstreamError, Variant, fetch_json, parse_args, serve
from chaos.lab.services.resilience import (
    BACKOFF_BASE_S,
    WEB_ATTEMPTS,
    WEB_BUDGET_S,
    WEB_TO_API_TIMEOUT_S,
    LastGood,
    RoundRobin,
    retry_with_backoff,
)


def fragile_index(*, api_urls: Sequence[str]) -> Route:
    def index() -> tuple[int, dict[str, Any]]:
        try:
            body = fetch_json(f"{api_urls[0]}/items", timeout=None)
        except UpstreamError as exc:
            return 502, {"error": f"api failed: {exc}"}
        return 200, body

    return index


def resilient_index(*, api_urls: Sequence[str]) -> Route:
    replicas = RoundRobin(api_urls)
    last_good: LastGood[dict[str, Any]] = LastGood()

    def ask_one_replica(remaining_s: float) -> dict[str, Any]:
        timeout = max(0.01, min(WEB_TO_API_TIMEOUT_S, remaining_s))
        return fetch_json(f"{replicas.next()}/items", timeout=timeout)

    def index() -> tuple[int, dict[str, Any]]:
        try:
            body = retry_with_backoff(
                ask_one_replica,
                attempts=WEB_ATTEMPTS,
                base_s=BACKOFF_BASE_S,
                budget_s=WEB_BUDGET_S,
                retry_on=(UpstreamError,),
            )
        except (UpstreamError, TimeoutError) as exc:
            cached = last_good.recall()
            if cached is None:
                return 502, {"error": f"every api replica failed: {exc}"}
            return 200, {**cached, "degraded": True}
        last_good.remember(body)
        return 200, body

    return index


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(service="web", argv=argv)
    make = resilient_index if args.variant is Variant.RESILIENT else fragile_index
    serve(
        service="web",
        host=args.host,
        port=args.port,
        routes={"/": make(api_urls=args.upstream)},
    )


if __name__ == "__main__":
    main()
