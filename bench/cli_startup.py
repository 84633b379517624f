"""CLI start-up time: median wall time of `chaos --help` and `chaos validate FILE`.

Run: .venv/bin/python bench/cli_startup.py [--runs 21]
Prints one line per command with median, p90 and min over the runs (each a fresh
process, as a user or a CI step would start it), with the package's bytecode
compiled as after any install. Target: median <= 0.20 s each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "lab-api-store-latency.yaml"
COMMANDS = {
    "chaos --help": ["--help"],
    "chaos validate experiments/lab-api-store-latency.yaml": ["validate", str(EXPERIMENT)],
}


def time_command(argv: list[str], runs: int) -> list[float]:
    chaos = Path(sys.executable).with_name("chaos")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(chaos), *argv], check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per command (>= 15)")
    args = parser.parse_args()
    # A user's install has bytecode: pip compiles it, and Python caches it on first import.
    # Here PYTHONDONTWRITEBYTECODE may be set (it is in the development sandbox), which
    # would make every run recompile the package from source, so compile it once first.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "chaos")], check=True)
    time_command(["--help"], 2)  # warm the page cache
    print(f"python {sys.version.split()[0]}, {args.runs} runs each, bytecode compiled")
    for label, argv in COMMANDS.items():
        timings = sorted(time_command(argv, args.runs))
        p90 = timings[int(len(timings) * 0.9) - 1]
        print(
            f"{label:58s} median {statistics.median(timings):.3f}s  "
            f"p90 {p90:.3f}s  min {timings[0]:.3f}s"
        )


if __name__ == "__main__":
    main()
