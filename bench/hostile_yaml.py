"""How fast the loader refuses hostile YAML, and what a valid experiment costs.

Run: .venv/bin/python bench/hostile_yaml.py [--runs 15]
Prints, per document, the median and max wall time of ``load_text`` over the runs
(in this process, so the figures are the loader's, not Python's start-up) and the
peak RSS of the process at the end. Targets: the 394-byte alias bomb and every
other hostile document refused in < 50 ms each; peak RSS < 200 MiB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.loader import load_text

REPO = Path(__file__).resolve().parents[1]


def billion_laughs() -> str:
    """The classic 394-byte alias bomb: nine levels of nine aliases, 9^9 strings."""
    lines = ["a: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


DOCUMENTS = {
    "alias bomb (billion laughs)": billion_laughs(),
    "recursive alias": "spec: &a [*a]\n",
    "nesting 10 000 deep": "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "python tag": "spec: !!python/object/apply:os.system ['true']\n",
    "1 MiB of one scalar": "a: " + "x" * (1 << 20) + "\n",
    "shipped experiment": (REPO / "experiments" / "lab-store-outage-load.yaml").read_text(),
}


def time_load(text: str, runs: int) -> tuple[list[float], str]:
    timings, outcome = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        try:
            load_text(text, file="bench.yaml", catalog=CATALOG)
            outcome = "loaded"
        except SpecError as exc:
            outcome = f"refused: {str(exc).splitlines()[0][:70]}"
        timings.append(time.perf_counter() - started)
    return timings, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"{'document':30} {'bytes':>8} {'median':>9} {'max':>9}  outcome")
    for name, text in DOCUMENTS.items():
        timings, outcome = time_load(text, args.runs)
        median, worst = statistics.median(timings) * 1000, max(timings) * 1000
        print(f"{name:30} {len(text):8d} {median:7.1f}ms {worst:7.1f}ms  {outcome}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
