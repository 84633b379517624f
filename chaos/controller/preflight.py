"""Preflight: everything checked before anything is touched.

Targets are resolved (modes, blast radius), every probe must answer once and
every Prometheus SLI must read a number once (a query nothing answers, or that
returns no series, would judge the whole run on missing data). Any failure here
is exit 4 with nothing injected.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from chaos.errors import ProbeError
from chaos.faults.base import FaultType
from chaos.plan.planner import Plan, make_plan
from chaos.spec.models import Experiment
from chaos.steady.probes import build_probe
from chaos.steady.prometheus import PrometheusQuery
from chaos.targets.base import Scope, TargetBackend


def preflight(
    experiment: Experiment,
    *,
    catalog: Mapping[str, FaultType],
    backends: Mapping[str, TargetBackend],
    scope: Scope,
    run_key: str,
    rng: random.Random,
) -> Plan:
    plan = make_plan(
        experiment, catalog=catalog, backends=backends, scope=scope, run_key=run_key, rng=rng
    )
    for probe in experiment.spec.steady_state.probes:
        sample = build_probe(probe).check()
        if not sample.ok and sample.status is None:
            raise ProbeError(
                f"probe {probe.name} unreachable in preflight: {sample.error}",
                experiment=experiment.metadata.name,
            )
    for sli in experiment.spec.steady_state.slis:
        if sli.prometheus is None:
            continue
        sample = PrometheusQuery(sli.name, sli.prometheus).check()
        if not sample.ok:
            raise ProbeError(
                f"SLI {sli.name}: Prometheus at {sli.prometheus.url} gave no number "
                f"in preflight: {sample.error}",
                experiment=experiment.metadata.name,
            )
    return plan


def describe_selection(plan: Plan) -> str:
    parts = []
    for name, targets in plan.selected.items():
        shown = ", ".join(target.display for target in targets)
        parts.append(f"{name}: {len(targets)} of {plan.candidates[name]} ({shown})")
    return "; ".join(parts)
