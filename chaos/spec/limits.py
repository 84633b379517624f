"""Upper bounds on everything an experiment or plan can ask for, in one place.

Each is checked where the value is validated, with the field located, so an absurd
value (``3000000h``, a million users) is refused before anything runs. The table in
docs/experiment-reference.md lists them; keep the two in step.
"""

from __future__ import annotations

# ---------------------------------------------------------------- files and YAML
MAX_FILE_BYTES = 1 << 20  # experiments, plans, schedule files: 1 MiB
MAX_LOCUSTFILE_BYTES = 1 << 20
MAX_YAML_NODES = 20_000  # also after alias expansion: the "billion laughs" stops here
MAX_YAML_DEPTH = 64  # nested mappings and sequences
MAX_YAML_ALIASES = 1_000  # alias references (*name) in one file

# ---------------------------------------------------------------- durations (seconds)
MAX_DURATION_S = 24 * 3600.0  # any duration field, fault parameters included
MAX_LEASE_TTL_S = 3600.0  # the agent's own cap on a lease
MIN_INTERVAL_S = 0.1  # steady-state sampling: no tighter than 10 per second

# ---------------------------------------------------------------- counts
MAX_USERS = 100_000
MAX_SPAWN_RATE = 10_000.0  # users started per second
MAX_WORKERS = 256  # local or remote Locust workers
MAX_TARGETS = 100  # named targets in one experiment
MAX_STEPS = 1_000  # method steps, game-day steps
MAX_PARALLEL = 100  # faults in one parallel step
MAX_PROBES = 100  # probes, SLIs, stop conditions, load tasks (each)
MAX_RECOVERY_SAMPLES = 1_000
MAX_TASK_WEIGHT = 1_000_000
MAX_LIMIT_COUNT = 1_000_000  # safety.maxTargets as a count
MAX_SIZE_BYTES = 1 << 50  # any byte size (1 PiB)
MAX_NUMBER_DIGITS = 30  # digits in a duration, size or limit number


def format_bytes(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"
