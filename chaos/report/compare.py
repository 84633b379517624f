"""Regression against an earlier run: which SLIs and probes got worse, and by how much.

Both runs are report documents (:mod:`chaos.report.document`), so an earlier run
can come from the store (``--compare-to RUN_ID`` or ``latest-pass``) or from the
JSON report a previous CI job kept as an artifact (``--compare-to run.json``).

For each SLI and probe in both runs three measures are compared: the worst value
while faults were active (``fault_worst``), the value at the end of recovery
(``recovery``) and the time to recover. "Worse" follows the SLI's threshold: for
``< 300`` a higher value is worse, for ``> 20`` a lower one; a probe is worse when
it passes less often; a longer time to recover is always worse. A change is a
regression when it is worse by more than ``margin_pct`` percent of the earlier
value *and* by more than the measure's noise floor (:data:`NOISE_FLOORS`), so an
error ratio going from 0 to 0.01 % or a p99 from 2.0 to 2.4 ms is not flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.steady.slis import format_value

DEFAULT_MARGIN_PCT = 10.0
MEASURES = ("fault_worst", "recovery", "time_to_recover_s")
MEASURE_NAMES = {
    "fault_worst": "worst during fault",
    "recovery": "recovery",
    "time_to_recover_s": "time to recover",
}
NOISE_FLOORS = {
    "error_ratio": 0.001,  # 0.1 percentage point
    "latency": 1.0,  # ms
    "throughput_rps": 0.5,  # requests per second
    "probe": 0.0,  # pass ratio: the margin alone decides
    "time_to_recover_s": 1.0,  # s: recovery is sampled once per interval
}
_HIGHER_IS_WORSE = {"<": 1, "<=": 1, ">": -1, ">=": -1}


def compare(
    current: Mapping[str, Any], previous: Mapping[str, Any], *, margin_pct: float
) -> dict[str, Any]:
    """The comparison section of ``current``'s report against the ``previous`` report."""
    notes = []
    before = previous["run"]
    if before["experiment"] != current["run"]["experiment"]:
        notes.append(
            f"comparing runs of different experiments: {current['run']['experiment']} "
            f"against {before['experiment']}"
        )
    earlier = {(row["kind"], row["name"]): row for row in previous.get("verdict") or []}
    directions = _directions(current)
    compared = []
    for row in current.get("verdict") or []:
        key = (row["kind"], row["name"])
        if key not in earlier:
            notes.append(f"{row['kind']} {row['name']} is not in run {before['id']}: not compared")
            continue
        direction = directions.get(key)
        for measure in MEASURES:
            sign = 1 if measure == "time_to_recover_s" else direction
            if sign is None:
                if measure == MEASURES[0]:
                    notes.append(f"{row['name']}: its threshold has no better or worse side")
                continue
            entry = _compare_measure(row, earlier[key], measure, sign, margin_pct)
            if entry is not None:
                compared.append(entry)
    return {
        "against": {
            "run_id": before["id"],
            "experiment": before["experiment"],
            "status": before["status"],
            "started_at": before["started_at"],
        },
        "margin_pct": margin_pct,
        "compared": compared,
        "regressions": [entry for entry in compared if entry["regression"]],
        "notes": notes,
    }


def nothing_to_compare(reason: str, *, margin_pct: float) -> dict[str, Any]:
    """The comparison section when no earlier run was found (say, the first CI run)."""
    return {
        "against": None,
        "margin_pct": margin_pct,
        "compared": [],
        "regressions": [],
        "notes": [reason],
    }


def _directions(document: Mapping[str, Any]) -> dict[tuple[str, str], int | None]:
    """+1 where a higher value is worse, -1 where a lower one is, None where neither."""
    found: dict[tuple[str, str], int | None] = {}
    for sli in document["series"]["slis"]:
        threshold = sli.get("threshold") or {}
        found[("sli", sli["name"])] = _HIGHER_IS_WORSE.get(threshold.get("op", ""))
    for probe in document["series"]["probes"]:
        found[("probe", probe["name"])] = -1
    return found


def _compare_measure(
    row: Mapping[str, Any], earlier: Mapping[str, Any], measure: str, sign: int, margin_pct: float
) -> dict[str, Any] | None:
    now, then = row.get(measure), earlier.get(measure)
    if now is None or then is None:
        return None
    change = float(now) - float(then)
    worse_by = change * sign
    floor = _noise_floor(row, measure)
    allowed = max(floor, abs(float(then)) * margin_pct / 100.0)
    regression = worse_by > allowed
    source = "s" if measure == "time_to_recover_s" else row.get("source")
    entry = {
        "kind": row["kind"],
        "name": row["name"],
        "measure": measure,
        "previous": then,
        "current": now,
        "change": change,
        "change_pct": round(change / abs(then) * 100.0, 1) if then else None,
        "worse": worse_by > 0,
        "regression": regression,
        "summary": "",
    }
    entry["summary"] = (
        f"{row['name']} {MEASURE_NAMES[measure]}: {_shown(then, source, row)} → "
        f"{_shown(now, source, row)}"
        + (f" ({entry['change_pct']:+.0f}%)" if entry["change_pct"] is not None else "")
    )
    return entry


def _noise_floor(row: Mapping[str, Any], measure: str) -> float:
    if measure == "time_to_recover_s":
        return NOISE_FLOORS["time_to_recover_s"]
    if row["kind"] == "probe":
        return NOISE_FLOORS["probe"]
    source = str(row.get("source") or "")
    if source.startswith("latency_"):
        return NOISE_FLOORS["latency"]
    return NOISE_FLOORS.get(source, 0.0)


def _shown(value: Any, source: Any, row: Mapping[str, Any]) -> str:
    if source == "s":
        return f"{float(value):.1f}s"
    if row["kind"] == "probe":
        return f"{float(value):.0%} passed"
    return format_value(float(value), source)
