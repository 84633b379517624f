"""What a run notification says: Slack-compatible ``{"text", "blocks"}`` bodies. Pure.

``text`` is the fallback every Slack-compatible receiver shows (Mattermost and
Rocket.Chat read only it; Slack uses it for notifications); ``blocks`` is Slack's
richer layout. Names and reasons are escaped (``&``, ``<``, ``>`` are markup there)
and cut to Slack's limits, so an odd experiment name never makes Slack refuse the
whole message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_MAX_REASONS = 10
_MAX_SECTION = 2900  # Slack refuses a section text over 3000 characters
_MAX_HEADER = 150  # ... and a header over 150
_STATUS_EMOJI = {
    "passed": ":white_check_mark:",
    "failed": ":x:",
    "aborted": ":warning:",
    "error": ":boom:",
}


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _MAX_SECTION)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, _MAX_SECTION)}]}


def _bullets(items: Sequence[str]) -> str:
    shown = [f"• {_esc(item)}" for item in items[:_MAX_REASONS]]
    if len(items) > _MAX_REASONS:
        shown.append(f"… and {len(items) - _MAX_REASONS} more")
    return "\n".join(shown)


def started_message(*, run_id: str, experiment: str, source: str = "") -> dict[str, Any]:
    text = f"Chaos run started: {_esc(experiment)} (run {run_id})"
    blocks = [_section(f":test_tube: *Chaos run started*: *{_esc(experiment)}* (run `{run_id}`)")]
    if source:
        blocks.append(_context(f"experiment file `{_esc(source)}`"))
    return {"text": text, "blocks": blocks}


def _recovery_text(data: Mapping[str, Any]) -> str:
    ttr = data.get("time_to_recover_s")
    if isinstance(ttr, int | float):
        return f"{ttr:.1f} s"
    recovery = data.get("recovery")
    if isinstance(recovery, Mapping) and recovery.get("recovered") is False:
        return "did not recover"
    return "not measured"


def verdict_message(*, run_id: str, experiment: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict: status, experiment, run id, time to recover, reasons, and any fault
    that could not be confirmed reverted (someone must look at that host)."""
    status = str(data.get("status", "error"))
    reasons = [str(reason) for reason in data.get("reasons") or ()]
    unreverted = [str(fault) for fault in data.get("unreverted") or ()]
    ttr = _recovery_text(data)
    emoji = _STATUS_EMOJI.get(status, ":grey_question:")
    text = f"Chaos run {status.upper()}: {_esc(experiment)} (run {run_id}, time to recover {ttr})"
    if reasons:
        text += " — " + _esc("; ".join(reasons))
    header = _cut(f"{emoji} Chaos run {status.upper()}: {experiment}", _MAX_HEADER)
    fields = [
        ("Experiment", _esc(experiment)),
        ("Run", f"`{run_id}`"),
        ("Status", f"{status} (exit {data.get('exit_code', '?')})"),
        ("Time to recover", ttr),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
    ]
    if reasons:
        blocks.append(_section("*Reasons*\n" + _bullets(reasons)))
    if unreverted:
        blocks.append(
            _section(":rotating_light: *Not confirmed reverted*\n" + _bullets(unreverted))
        )
    blocks.append(_context(f"details: `chaos runs show {run_id}`"))
    return {"text": _cut(text, _MAX_SECTION), "blocks": blocks}
