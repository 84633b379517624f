"""A run as JUnit XML, for CI systems that show test results (Jenkins, GitLab, GitHub).

One ``<testsuite>`` named after the experiment, inside a ``<testsuites>`` root (the
layout pytest writes, and the one the Jenkins xunit schema accepts). Each check the
run made is a test case, so a CI page lists what held and what broke:

- each SLI and probe in each judged phase (baseline, during fault, recovery): a
  ``<failure>`` naming the threshold, the value seen and the phase; ``<skipped>`` for
  a phase the run never reached or a signal not judged while faults were active;
- all faults reverted (an ``<error>``: a fault left behind is not a test result, it is
  an incident), recovered after faults, one case per stop condition;
- the run verdict itself (``<error>`` for error and interrupted runs, ``<failure>`` for
  failed and aborted ones), one case per regression found by the comparison, and
  whether the report's data is complete.

Case names never carry measured values or run ids, so a CI server tracks the same
case from run to run; the values go in ``message`` (one line) and ``<system-out>``.
Input is the report document (:mod:`chaos.report.document`) and nothing else.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.report.compare import MEASURE_NAMES
from chaos.report.document import PHASE_FIGURES, PHASE_WORDS

JUDGED_PHASES = ("baseline", "inject", "recovery")
LEFT_BEHIND = {  # fault outcomes that may have left the fault in place
    "revert_failed": "its revert failed",
    "active_at_end": "still active when the run ended",
}
STOPPED_EARLY = {
    "aborted": "was aborted",
    "error": "stopped with an error",
    "interrupted": "was interrupted",
    "running": "is still running",
}
RUN_OUTCOMES = {  # run status -> (result element, type); passed has none
    "failed": ("failure", "chaos.failed"),
    "aborted": ("failure", "chaos.aborted"),
    "error": ("error", "chaos.error"),
    "interrupted": ("error", "chaos.interrupted"),
    "running": ("skipped", "chaos.running"),
}
# characters XML 1.0 cannot carry at all, even escaped
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\u2028\u2029]+\s*")


@dataclass(frozen=True)
class Result:
    element: str  # failure | error | skipped
    message: str
    type: str = ""


@dataclass
class Case:
    name: str
    classname: str
    result: Result | None = None
    time_s: float = 0.0
    out: list[str] = field(default_factory=list)


def render_junit(document: Mapping[str, Any]) -> str:
    """The run report as a JUnit XML document (UTF-8 text with its XML declaration)."""
    run = document["run"]
    base = f"chaos.{run['experiment']}"
    cases = [
        *_signal_cases(document, base),
        _revert_case(document, base),
        _recovery_case(document, base),
        *_stop_condition_cases(document, base),
        _verdict_case(document, base),
        *_regression_cases(document, base),
        _data_case(document, base),
    ]
    counts = _counts(cases)
    duration = _duration(document)
    root = _element(
        "testsuites",
        name="chaos",
        time=_seconds(duration),
        **{k: str(v) for k, v in counts.items() if k != "skipped"},
    )
    suite = _element(
        "testsuite",
        name=run["experiment"],
        **{k: str(v) for k, v in counts.items()},
        time=_seconds(duration),
        timestamp=run.get("started_at") or "",
        hostname=run.get("host") or "",
        id=run["id"],
    )
    root.append(suite)
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(document):
        properties.append(_element("property", name=name, value=value))
    suite.extend(_case_element(case) for case in cases)
    ET.SubElement(suite, "system-out").text = _text("\n".join(_suite_out(document)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# ---------------------------------------------------------------- cases


def _signal_cases(document: Mapping[str, Any], base: str) -> Iterator[Case]:
    """One case per SLI and probe and judged phase; skipped where nothing was judged."""
    rows = document.get("verdict") or []
    reached = {phase["name"]: phase for phase in document.get("phases") or []}
    signals = [(row["kind"], row["name"], row) for row in rows] or [
        *(("sli", s["name"], None) for s in (document.get("series") or {}).get("slis") or []),
        *(("probe", p["name"], None) for p in (document.get("series") or {}).get("probes") or []),
    ]
    for kind, name, row in signals:
        for phase in JUDGED_PHASES:
            case = Case(f"{_label(kind)} {name} {PHASE_WORDS[phase]}", f"{base}.{phase}")
            if phase not in reached:
                case.result = Result("skipped", _not_reached(document, phase))
            elif row is None:
                case.result = Result("skipped", "no verdict was stored for this run")
            else:
                # no time: every signal shares the phase's, and CI servers add case times up
                case.result = _signal_result(row, phase)
                case.out = [*_signal_out(document, row, phase), _window(reached[phase])]
            yield case


def _signal_result(row: Mapping[str, Any], phase: str) -> Result | None:
    if phase in row.get("failed_in", ()):
        return Result("failure", _breach(row, phase), f"chaos.{row['kind']}")
    if phase == "inject" and (row.get("thresholds") or {}).get("inject", "-") is None:
        return Result("skipped", "not judged while faults were active (tolerated)")
    return None


def _breach(row: Mapping[str, Any], phase: str) -> str:
    """What broke where: the threshold held to, the value seen and the phase."""
    seen = (row.get("display") or {}).get(PHASE_FIGURES[phase]) or "no data"
    if row["kind"] == "probe":
        return f"probe {row['name']} {PHASE_WORDS[phase]}: {seen}, needs {row['threshold']}"
    threshold = _threshold_in(row, phase)
    if phase == "recovery":
        return f"SLI {row['name']} did not recover to {threshold}: {seen} at the end of recovery"
    worst = "worst" if phase == "inject" else "measured"
    return f"SLI {row['name']} broke {threshold} {PHASE_WORDS[phase]}: {worst} {seen}"


def _threshold_in(row: Mapping[str, Any], phase: str) -> str:
    """The threshold an SLI was held to in ``phase`` (its ``duringFault`` one in inject)."""
    return str((row.get("thresholds") or {}).get(phase) or row.get("threshold"))


def _signal_out(document: Mapping[str, Any], row: Mapping[str, Any], phase: str) -> list[str]:
    display = row.get("display") or {}
    lines = [
        f"{PHASE_WORDS[phase]}: {display.get(PHASE_FIGURES[phase]) or 'no data'}",
        f"threshold: {row.get('threshold')}; tolerance: {row.get('tolerance')}",
    ]
    if phase == "recovery" and row.get("time_to_recover_s") is not None:
        lines.append(f"time to recover: {row['time_to_recover_s']:.1f}s")
    # the stored reasons that name this signal in this phase, word for word
    mention = re.compile(rf"\b{_label(row['kind'])} {re.escape(row['name'])}(?![\w-])")
    in_phase = re.compile(rf"\b{phase}\b")
    said = _phase_reasons(document, phase) + [
        reason for reason in document["run"].get("reasons") or [] if in_phase.search(reason)
    ]
    lines += [f"reason: {reason}" for reason in dict.fromkeys(said) if mention.search(reason)]
    return lines


def _revert_case(document: Mapping[str, Any], base: str) -> Case:
    faults = [f for f in document.get("faults") or [] if f.get("outcome") != "apply_failed"]
    left = list(document["run"].get("unreverted") or [])
    for fault in faults:  # the run's list already names a fault whose revert failed
        name = _fault_name(fault)
        if fault.get("outcome") in LEFT_BEHIND and not any(x.startswith(name) for x in left):
            left.append(f"{name}: {LEFT_BEHIND[fault['outcome']]}")
    case = Case("all faults reverted", f"{base}.revert", out=[_fault_line(f) for f in faults])
    if left:
        message = "not confirmed reverted: " + "; ".join(left)
        case.result = Result("error", message, "chaos.unreverted")
    elif not faults:
        case.result = Result("skipped", "no fault was applied")
    return case


def _recovery_case(document: Mapping[str, Any], base: str) -> Case:
    recovery = document.get("recovery")
    case = Case("recovered after faults", f"{base}.recovery")
    if recovery is None:
        reached = any(p["name"] == "recovery" for p in document.get("phases") or [])
        message = "recovery was not measured" if reached else _not_reached(document, "recovery")
        case.result = Result("skipped", message)
    elif recovery.get("recovered"):
        ttr = recovery.get("time_to_recover_s") or 0.0
        case.time_s = ttr
        case.out = [f"recovered {ttr:.1f}s after the revert"]
    else:
        case.result = Result(
            "failure", recovery.get("reason") or "did not recover", "chaos.not_recovered"
        )
    return case


def _stop_condition_cases(document: Mapping[str, Any], base: str) -> Iterator[Case]:
    for condition in document.get("stop_conditions") or []:
        case = Case(f"stop condition {condition['name']} not tripped", base)
        case.out = [f"watches {condition.get('watches')}: {condition.get('threshold')}"]
        if condition.get("tripped"):
            at = condition.get("tripped_s")
            message = condition.get("message") or "tripped"
            when = f" at t+{at:.1f}s" if at is not None else ""
            case.result = Result("failure", f"{message}{when}", "chaos.stop_condition")
        yield case


def _verdict_case(document: Mapping[str, Any], base: str) -> Case:
    run = document["run"]
    case = Case("run verdict", base, time_s=_duration(document))
    case.out = [f"status: {run['status']} (exit code {run.get('exit_code')})"]
    outcome = RUN_OUTCOMES.get(run["status"])
    if outcome is not None:
        reasons = "; ".join(run.get("reasons") or []) or run["status"]
        case.result = Result(outcome[0], f"{run['status']}: {reasons}", outcome[1])
    return case


def _regression_cases(document: Mapping[str, Any], base: str) -> Iterator[Case]:
    comparison = document.get("comparison")
    if comparison is None:
        return
    against = (comparison.get("against") or {}).get("run_id")
    margin = comparison.get("margin_pct")
    notes = list(comparison.get("notes") or [])
    regressions = comparison.get("regressions") or []
    for found in regressions:
        measure = MEASURE_NAMES.get(found["measure"], found["measure"])
        name = f"no regression in {_label(found['kind'])} {found['name']} {measure}"
        case = Case(name, f"{base}.comparison", out=notes)
        message = f"{found['summary']}: worse than run {against} by more than {margin:g}%"
        case.result = Result("failure", message, "chaos.regression")
        yield case
    if not regressions:
        case = Case("no regression", f"{base}.comparison", out=notes)
        if against is None:
            case.result = Result("skipped", notes[0] if notes else "no earlier run to compare")
        else:
            case.out = [f"compared against run {against} (margin {margin:g}%)", *notes]
        yield case


def _data_case(document: Mapping[str, Any], base: str) -> Case:
    missing = list(document.get("missing") or [])
    case = Case("data complete", base, out=missing)
    if len(missing) == 1:
        case.result = Result("skipped", missing[0])
    elif missing:
        case.result = Result("skipped", f"{len(missing)} gaps in the data, first: {missing[0]}")
    return case


# ---------------------------------------------------------------- suite


def _properties(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    run, gate = document["run"], document.get("gate") or {}
    against = ((document.get("comparison") or {}).get("against") or {}).get("run_id")
    found = {
        "chaos.run_id": run["id"],
        "chaos.status": run["status"],
        "chaos.exit_code": run.get("exit_code"),
        "chaos.source": run.get("source"),
        "chaos.gate_status": gate.get("status"),
        "chaos.gate_exit_code": gate.get("exit_code"),
        "chaos.compared_against": against,
    }
    return [(name, str(value)) for name, value in found.items() if value is not None]


def _suite_out(document: Mapping[str, Any]) -> list[str]:
    run, gate = document["run"], document.get("gate") or {}
    lines = [f"run {run['id']} of {run['experiment']}: {run['status']}"]
    lines += [f"reason: {reason}" for reason in run.get("reasons") or []]
    if gate and gate.get("status") != run["status"]:
        lines.append(f"gate: {gate.get('status')} (exit code {gate.get('exit_code')})")
        lines += [f"gate reason: {reason}" for reason in gate.get("reasons") or []]
    lines += [f"missing: {note}" for note in document.get("missing") or []]
    return lines


def _counts(cases: Sequence[Case]) -> dict[str, int]:
    kinds = [case.result.element if case.result else "" for case in cases]
    return {
        "tests": len(cases),
        "failures": kinds.count("failure"),
        "errors": kinds.count("error"),
        "skipped": kinds.count("skipped"),
    }


def _case_element(case: Case) -> ET.Element:
    element = _element(
        "testcase", classname=case.classname, name=case.name, time=_seconds(case.time_s)
    )
    if case.result is not None:
        result = _element(case.result.element, message=case.result.message)
        if case.result.type:
            result.set("type", case.result.type)
        element.append(result)
    if case.out:
        ET.SubElement(element, "system-out").text = _text("\n".join(case.out))
    return element


# ---------------------------------------------------------------- helpers


def _not_reached(document: Mapping[str, Any], phase: str) -> str:
    run = document["run"]
    verb = STOPPED_EARLY.get(run["status"])
    names = [p["name"] for p in document.get("phases") or [] if p["name"] != "verdict"]
    if verb is None:
        return f"not reached: this run had no {phase} phase"
    where = f"during {names[-1]}" if names else "before its first phase"
    return f"not reached: the run {verb} {where}"


def _phase_reasons(document: Mapping[str, Any], phase: str) -> list[str]:
    return [
        reason
        for found in document.get("phases") or []
        if found["name"] == phase
        for reason in found.get("reasons") or []
    ]


def _window(phase: Mapping[str, Any]) -> str:
    end = phase.get("end_s")
    until = f"t+{end:.1f}s" if end is not None else "the end of the record"
    return f"phase {phase['name']}: t+{phase['start_s']:.1f}s to {until}"


def _duration(document: Mapping[str, Any]) -> float:
    """The run's duration, or for a run that never ended how far its record goes."""
    duration = document["run"].get("duration_s")
    if duration is not None:
        return float(duration)
    seen = [e["at_s"] for e in document.get("timeline") or []]
    return max(seen, default=0.0)


def _label(kind: str) -> str:
    return "SLI" if kind == "sli" else kind


def _fault_name(fault: Mapping[str, Any]) -> str:
    return f"{fault.get('label')} [{fault.get('instance')}]"


def _fault_line(fault: Mapping[str, Any]) -> str:
    ended = fault.get("ended_s")
    end = f", ended t+{ended:.1f}s" if ended is not None else ""
    return (
        f"{_fault_name(fault)}: applied t+{fault.get('applied_s', 0.0):.1f}s{end}, "
        f"{fault.get('outcome')}: {fault.get('message')}"
    )


def _element(tag: str, **attributes: Any) -> ET.Element:
    """Attributes (names, messages) on one line: CI pages show them as titles."""
    return ET.Element(tag, {name: _one_line(_text(str(v))) for name, v in attributes.items()})


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _one_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value).strip()


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"
