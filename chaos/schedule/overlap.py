"""Whether two runs could touch the same things: never two such runs at once.

Decided from the experiments' selectors, before anything is listed, so it also holds
for runs on other controllers (compared through the store). It errs on the side of
"overlapping": two targets are kept apart only when their selectors provably cannot
match the same object:

- different kinds (process, container, pod, node), except pod and node: a node fault
  or drain hits every pod on the node, so those two always overlap;
- lab processes in different labs, pods in different namespaces, pods pinned to
  different nodes;
- a label (or Kubernetes field selector) both require, with different values;
- both name objects, and no name is common.

Container selectors are not told apart by Docker host: host names are per experiment
and two names may point at the same engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chaos.spec.models import TargetKind, TargetSpec


@dataclass(frozen=True)
class Reach:
    """What one target of a run may touch."""

    kind: TargetKind
    scope: str  # process: lab id; pod: namespace; otherwise ""
    labels: Mapping[str, str] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    fields: Mapping[str, str] = field(default_factory=dict)
    node: str | None = None  # pod: pinned to this node

    def describe(self) -> str:
        where = f" in {self.scope}" if self.scope else ""
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        names = ",".join(sorted(self.names))
        what = " ".join(part for part in (labels, names and f"names={names}") if part)
        return f"{self.kind}{where} {what}".strip()


def reaches(targets: Iterable[TargetSpec], *, lab: str) -> tuple[Reach, ...]:
    """The reach of each target; ``lab`` is the run's lab (for process selectors without one)."""
    found = []
    for target in targets:
        selector = target.selector
        if target.kind is TargetKind.PROCESS:
            scope = selector.lab or lab
        elif target.kind is TargetKind.POD:
            scope = selector.namespace or ""
        else:
            scope = ""
        found.append(
            Reach(
                kind=target.kind,
                scope=scope,
                labels=dict(selector.labels),
                names=frozenset(selector.names),
                fields=dict(selector.fields),
                node=selector.node,
            )
        )
    return tuple(found)


def overlap(a: Reach, b: Reach) -> bool:
    if a.kind != b.kind:
        return {a.kind, b.kind} == {TargetKind.POD, TargetKind.NODE} and _pod_on_node(a, b)
    if a.scope != b.scope:
        return False
    if a.node and b.node and a.node != b.node:
        return False
    if _conflict(a.labels, b.labels) or _conflict(a.fields, b.fields):
        return False
    return not (a.names and b.names and not (a.names & b.names))


def first_overlap(
    mine: tuple[Reach, ...], theirs: tuple[Reach, ...] | None
) -> tuple[Reach, Reach | None] | None:
    """The first pair that overlaps; ``theirs`` None (unknown targets) overlaps everything."""
    for reach in mine:
        if theirs is None:
            return reach, None
        for other in theirs:
            if overlap(reach, other):
                return reach, other
    return None


def _pod_on_node(a: Reach, b: Reach) -> bool:
    pod, node = (a, b) if a.kind is TargetKind.POD else (b, a)
    return not (pod.node and node.names and pod.node not in node.names)


def _conflict(left: Mapping[str, str], right: Mapping[str, str]) -> bool:
    return any(key in right and right[key] != value for key, value in left.items())
