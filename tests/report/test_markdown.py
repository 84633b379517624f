"""The Markdown summary, read the way GitHub reads it: parsed with markdown-it-py (the
CommonMark parser with GFM tables), so a table that does not parse, or a name that
turns into HTML, fails here."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from chaos.report.compare import compare
from chaos.report.markdown import TIMELINE_ROWS, render_markdown
from tests.report import samples

HOSTILE = "| <img src=x onerror=alert(1)> \n- *$x$* @octo-org/team [a](b)"
OUR_HTML = {"<details><summary>", "</summary>", "</details>"}


def tokens(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def tables(text: str) -> list[list[list[str]]]:
    """Each table as rows of cell texts (header row first), as a reader sees them."""
    found: list[list[list[str]]] = []
    in_table = False
    for token in tokens(text):
        if token.type in ("table_open", "table_close"):
            in_table = token.type == "table_open"
            found += [[]] if in_table else []
        elif in_table and token.type == "tr_open":
            found[-1].append([])
        elif in_table and token.type == "inline":
            found[-1][-1].append(plain(token))
    return found


def plain(inline: Token) -> str:
    """The text an inline token shows (markup dropped, escapes resolved)."""
    return "".join(
        child.content for child in inline.children or [] if child.type in ("text", "code_inline")
    )


def html_in(text: str) -> list[str]:
    """Raw HTML the renderer let through, beyond its own <details> fold."""
    found = []
    for token in tokens(text):
        if token.type == "html_block":
            found += [line for line in token.content.splitlines() if line]
        for child in token.children or []:
            if child.type == "html_inline":
                found.append(child.content)
    return [html for html in found if not any(html.startswith(ours) for ours in OUR_HTML)]


def verdict_table(text: str) -> list[list[str]]:
    table = tables(text)[0]
    assert table[0] == [
        "SLI / probe",
        "Baseline",
        "Worst during fault",
        "Recovery",
        "Threshold",
        "Result",
    ]
    return table[1:]


def test_a_passing_run_is_a_short_summary_with_one_row_per_signal() -> None:
    text = render_markdown(samples.passing_document())
    lines = text.splitlines()
    assert lines[0] == "### ✅ PASSED · shop-latency"
    assert "run pass0000abcd · took 18.5 s · recovered in 1.0 s" in lines[2]
    rows = verdict_table(text)
    assert [row[0] for row in rows] == ["SLI errors", "SLI p99", "SLI throughput", "probe home"]
    assert rows[1] == [
        "SLI p99",
        "120ms",
        "900ms",
        "120ms",
        "< 500ms (< 1500ms in fault)",
        "✅ passed",
    ]
    assert rows[3][1:4] == ["5/5 passed", "8/8 passed", "3/3 passed"]
    assert all(row[5] == "✅ passed" for row in rows)
    fault = "- latency on store [store-0 (pid 4242)]: applied at t+6.0 s, reverted at t+14.0 s"
    assert fault.replace("[", "\\[").replace("]", "\\]") in lines
    assert "Missing data" not in text and "regression" not in text.lower()
    assert len(lines) <= 40
    assert html_in(text) == []


def test_a_failing_run_shows_its_reason_and_where_the_sli_broke() -> None:
    text = render_markdown(samples.failing_document())
    assert text.startswith("### ❌ FAILED · shop-latency\n")
    assert "- inject: SLI p99 broke \\< 1500ms for 8s (worst 1800ms)" in text.splitlines()
    p99 = verdict_table(text)[1]
    assert p99[5] == "❌ failed during fault"
    assert "| **1800ms** |" in text  # the value that broke it stands out


def test_an_aborted_run_names_the_stop_condition_that_tripped() -> None:
    text = render_markdown(samples.aborted_document())
    assert text.startswith("### ⚠️ ABORTED · shop-latency\n")
    assert "recovery not measured" in text
    tripped = [line for line in text.splitlines() if "🛑" in line]
    assert tripped == [
        "- 🛑 **Stop condition error budget tripped** at t+8.5 s: "
        "stop condition tripped: error budget (errors \\> 20%) (35.00%)"
    ]


def test_an_unreverted_fault_is_called_out() -> None:
    text = render_markdown(samples.error_document())
    assert text.startswith("### 💥 ERROR · shop-latency\n")
    lines = text.splitlines()
    at = lines.index("**⚠️ Not confirmed reverted:**")
    assert lines[at + 1] == (
        "- latency on store \\[store-0 (pid 4242)\\]: agent at 10.0.0.7:9000 did not answer"
    )
    assert any("⚠️ **revert failed** at t+14.0 s" in line for line in lines)


def test_an_interrupted_run_renders_what_is_there_and_what_is_missing() -> None:
    document = samples.interrupted_document()
    text = render_markdown(document)
    assert text.startswith("### ⛔ INTERRUPTED · shop-latency\n")
    assert "took" not in text.splitlines()[2]  # it never ended
    assert tables(text)[0][0] == ["t", "Phase", "Event"]  # the timeline; no verdict table
    lines = text.splitlines()
    at = lines.index("**Missing data**")
    assert lines[at + 1 : at + 1 + len(document["missing"])] == [
        f"- {note}" for note in document["missing"]
    ]
    assert "⚠️ **still active when the run ended**" in text


def test_a_bare_document_does_not_break_the_renderer() -> None:
    document = samples.interrupted_document()
    for key in ("verdict", "faults", "series", "timeline", "phases", "recovery", "gate"):
        document.pop(key)
    text = render_markdown(document)
    assert text.startswith("### ⛔ INTERRUPTED · shop-latency\n")
    assert "**Missing data**" in text


def test_the_heading_follows_the_gate_and_names_the_regression() -> None:
    text = render_markdown(samples.regressed_document(fail_on_regression=True))
    lines = text.splitlines()
    assert lines[0] == (
        "### ❌ FAILED · shop-latency (the run itself ✅ PASSED; failed on regression)"
    )
    at = lines.index("**📉 1 regression against run prev0000abcd (margin 10%):**")
    assert lines[at + 1] == "- **p99 worst during fault: 450ms → 900ms (+100%)**"


def test_a_regression_shows_even_when_the_gate_does_not_fail_on_it() -> None:
    text = render_markdown(samples.regressed_document(fail_on_regression=False))
    assert text.startswith("### ✅ PASSED · shop-latency\n")
    assert "- **p99 worst during fault: 450ms → 900ms (+100%)**" in text


def test_no_regression_and_nothing_to_compare_are_both_said() -> None:
    document = samples.passing_document()
    document["comparison"] = compare(document, samples.passing_document(), margin_pct=10.0)
    assert "No regression against run pass0000abcd (margin 10%)." in render_markdown(document)
    first = render_markdown(samples.first_ci_run_document())
    assert (
        "**Regression check:** nothing to compare with.\n"
        "- _no earlier passed run of shop-latency in the store: nothing to compare with_"
    ) in first


def test_hostile_names_and_messages_stay_text() -> None:
    document = samples.failing_document()
    document["run"]["experiment"] = HOSTILE
    document["run"]["reasons"] = [HOSTILE]
    document["verdict"][1]["name"] = HOSTILE
    document["faults"][0]["label"] = HOSTILE
    document["timeline"][0]["message"] = HOSTILE
    text = render_markdown(document)
    shown = " ".join(HOSTILE.split()).replace("@", "@\u200b")  # a zero-width space
    assert html_in(text) == []
    assert plain_of(text.splitlines()[0]) == f"❌ FAILED · {shown}"
    rows = verdict_table(text)
    assert len(rows) == 4 and all(len(row) == 6 for row in rows)
    assert rows[1][0] == f"SLI {shown}"
    timeline = tables(text)[1]
    assert timeline[1][2] == f"run.started: {shown}"
    assert all(len(row) == 3 for row in timeline)
    assert not any(token.type in ("link_open", "image") for token in _all(text))
    assert "\\$x\\$" in text  # GitHub renders $...$ as LaTeX unless escaped


def test_a_long_timeline_is_cut_to_fit_a_comment() -> None:
    document: dict[str, Any] = samples.passing_document()
    document["timeline"] = [
        {"at_s": i / 10, "kind": "probe.failed", "phase": "inject", "message": "x" * 500}
        for i in range(2000)
    ]
    text = render_markdown(document)
    timeline = tables(text)[1]
    assert len(timeline) == 1 + TIMELINE_ROWS + 1
    assert timeline[-1][2] == f"… {2000 - TIMELINE_ROWS} more in the JSON report"
    assert len(text) < 65536  # GitHub's limit for a comment


def plain_of(markdown_line: str) -> str:
    """A heading's text as shown."""
    inline = [t for t in tokens(markdown_line) if t.type == "inline"]
    return plain(inline[0])


def _all(text: str) -> list[Token]:
    found = []
    for token in tokens(text):
        found.append(token)
        found += token.children or []
    return found
