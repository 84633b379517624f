"""The HTML run report: complete, offline, escaped, charts that show what happened, and a
page for every document a run can leave behind -- also in a real headless Chromium."""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chaos.report.html import render_html
from chaos.report.thinning import thin
from tests.report.browser import CHROMIUM, Browser, png_pixels, png_scanlines, png_size
from tests.report.samples import (
    ALL,
    aborted_document,
    failing_document,
    interrupted_document,
    passing_document,
    regressed_document,
)

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "col", "area", "base"}


# ---------------------------------------------------------------- a small DOM


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, css: str | None = None, **attrs: str) -> list[Node]:
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag)
            and (css is None or css in node.classes)
            and all(node.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, css: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, css, **attrs)
        assert found, f"no <{tag} class={css} {attrs}>"
        return found[0]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class Tree(HTMLParser):
    """Parses a page into nodes, failing on any unbalanced or misnested tag."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root
        self.feed(page)
        self.close()
        assert self.current is self.root, f"<{self.current.tag}> is never closed"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.text += data


def parse(page: str) -> Node:
    assert page.startswith("<!DOCTYPE html>")
    return Tree(page).root


def chart(dom: Node, key: str) -> Node:
    return dom.find("svg", "chart", data_chart=key)


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_kind_of_run_renders_a_complete_page(name: str) -> None:
    document = ALL[name]()
    dom = parse(render_html(document))
    for section in ("summary", "timeline", "load", "slis", "verdict", "recovery", "faults"):
        assert dom.find(id=section)
    badge = dom.find(id="verdict-badge")
    assert f"status-{document['gate']['status']}" in badge.classes
    assert document["gate"]["status"].upper() in badge.all_text()
    assert document["run"]["experiment"] in dom.find("h1").all_text()


@pytest.mark.parametrize("name", sorted(ALL))
def test_nothing_is_loaded_from_the_network(name: str) -> None:
    page = render_html(ALL[name]())
    dom = parse(page)
    for node in dom.iter():
        assert node.tag not in ("img", "iframe", "object", "embed", "audio", "video", "base")
        for attribute in ("src", "href", "xlink:href", "action", "poster", "srcset"):
            value = node.attrs.get(attribute)
            assert value is None or value.startswith(("data:", "#")), (node.tag, value)
        if node.tag == "script":
            assert "src" not in node.attrs
            assert not re.search(r"https?:|fetch\(|XMLHttpRequest|import\(", node.text)
    styles = "".join(node.text for node in dom.find_all("style"))
    assert "url(" not in styles and "@import" not in styles and "@font-face" not in styles


def test_every_string_from_the_document_is_escaped() -> None:
    document = passing_document()
    document["run"]["experiment"] = HOSTILE
    document["run"]["description"] = HOSTILE
    document["run"]["reasons"] = document["gate"]["reasons"] = [HOSTILE]
    document["faults"][0]["label"] = document["faults"][0]["message"] = HOSTILE
    document["phases"][1]["name"] = HOSTILE
    document["series"]["slis"][0]["name"] = HOSTILE
    document["series"]["load"][3]["phase"] = "</script><script>alert(3)</script>"
    document["verdict"][0]["name"] = HOSTILE
    document["timeline"][0]["message"] = HOSTILE
    document["missing"] = [HOSTILE]
    page = render_html(document)
    dom = parse(page)
    assert "<script>alert" not in page and "<img" not in page
    # ours only: the load figures (JSON) and the hover read-out
    scripts = dom.find_all("script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert json.loads(scripts[0].text)[3][2] == "</script><script>alert(3)</script>"
    assert dom.find("h1").all_text() == HOSTILE
    assert HOSTILE in dom.find(id="missing").all_text()


def test_the_example_run_has_its_faults_shaded_and_thresholds_drawn_on_each_chart() -> None:
    document = passing_document()
    second = copy.deepcopy(document["faults"][0])
    second.update(label="latency on api", applied_s=15.0, ended_s=16.5)
    document["faults"].append(second)
    dom = parse(render_html(document))
    charts = dom.find_all("svg", "chart")
    # three load charts, one per SLI, one per probe
    assert len(charts) == 3 + len(document["series"]["slis"]) + len(document["series"]["probes"])
    for svg in charts:
        windows = svg.find_all("rect", "fault-window")
        assert len(windows) == 2, svg.attrs
        assert all(window.find("title").all_text().startswith("latency on") for window in windows)
    # each SLI's threshold on the chart of its load metric, and only there
    expected = {"throughput": ["throughput > 20/s"], "errors": ["errors < 1%"]}
    expected["latency"] = ["p99 < 500ms", "p99 < 1500ms in fault"]
    for key, labels in expected.items():
        rules = chart(dom, key).find_all("g", "threshold") + chart(dom, key).find_all(
            "g", "threshold-fault"
        )
        assert sorted(rule.find("text").all_text() for rule in rules) == sorted(labels)


def test_a_threshold_in_fault_spans_exactly_the_fault_windows() -> None:
    dom = parse(render_html(passing_document()))
    latency = chart(dom, "latency")
    window = latency.find("rect", "fault-window")
    start = float(window.attrs["x"])
    in_fault = latency.find("g", "threshold-fault").find("line")
    assert float(in_fault.attrs["x1"]) == pytest.approx(start, abs=0.2)
    end = start + float(window.attrs["width"])
    assert float(in_fault.attrs["x2"]) == pytest.approx(end, abs=0.2)
    # the plain threshold crosses the whole plot, at the height of 500 ms on the axis
    plain = latency.find("g", "threshold").find("line")
    ticks = {t.all_text(): float(t.attrs["y"]) - 4 for t in latency.find_all("text", "tick")}
    assert float(plain.attrs["y1"]) == pytest.approx(ticks["500 ms"], abs=0.2)
    assert float(plain.attrs["x1"]) == float(latency.attrs["data-x0"])


def test_breaches_and_failures_are_marked_in_the_sli_charts_and_verdict() -> None:
    document = failing_document()
    dom = parse(render_html(document))
    p99 = dom.find("svg", "chart", data_sli="p99")
    breached = [p for p in document["series"]["slis"][1]["points"] if p["ok"] is False]
    assert len(p99.find_all("circle", "breach")) == len(breached) > 0
    assert not dom.find("svg", "chart", data_sli="errors").find_all("circle", "breach")
    failed = [row for row in dom.find(id="verdict").find_all("tr") if "fail" in row.classes]
    assert len(failed) == 1 and "FAIL in inject" in failed[0].all_text()
    assert "p99" in failed[0].all_text()


def test_failed_probe_samples_are_marked_on_the_probe_chart() -> None:
    document = passing_document()
    samples = document["series"]["probes"][0]["samples"]
    for sample in samples[7:10]:
        sample.update(ok=False, latency_ms=None, error="connection refused")
    dom = parse(render_html(document))
    probe = dom.find(id="probes")
    assert len(probe.find_all("circle", "probe-failed")) == 3
    assert "18 samples, 3 failed" in probe.find("p", "facts").all_text()
    assert "card-fail" in probe.find("article").classes
    # failures that took no measurable time sit on the time axis, not on the line
    axis_y = float(probe.find("svg").find("g", "axis").find("line").attrs["y1"])
    assert {float(c.attrs["cy"]) for c in probe.find_all("circle", "probe-failed")} == {axis_y}
    assert probe.find("g", "c-probe").find("path").attrs["d"].count("M") == 2


def test_timeline_shows_phases_faults_by_outcome_and_stop_trips() -> None:
    dom = parse(render_html(aborted_document()))
    timeline = dom.find("svg", "timeline")
    names = [text.all_text() for text in timeline.find_all("text", "phase-name")]
    assert names == ["preflight", "baseline", "inject"]
    bar = timeline.find("rect", "fault-bar")
    assert "outcome-reverted" in bar.classes
    assert "t+6.0s → t+8.6s · reverted" in timeline.find("text", "fault-label").all_text()
    assert "error budget tripped at t+8.5s" in timeline.find("g", "stop-trip").all_text()
    assert dom.find("svg", "chart", data_chart="errors").find_all("line", "stop-trip")


def test_gate_failed_by_a_regression_says_so_over_a_passed_run() -> None:
    dom = parse(render_html(regressed_document(fail_on_regression=True)))
    badge = dom.find(id="verdict-badge").all_text()
    assert "FAILED" in badge and "exit 1" in badge
    assert "The run itself passed (exit 0)" in dom.find("section", "outcome").all_text()
    assert "p99 worst during fault: 450ms → 900ms" in dom.find(id="regressions-callout").all_text()
    comparison = dom.find(id="comparison")
    assert "prev0000abcd" in comparison.all_text()
    assert len([row for row in comparison.find_all("tr") if "fail" in row.classes]) >= 1


def test_a_run_with_missing_samples_says_what_is_missing() -> None:
    document = interrupted_document()
    dom = parse(render_html(document))
    notice = dom.find(id="missing")
    assert [item.all_text() for item in notice.find_all("li")] == document["missing"]
    placeholder = dom.find(data_placeholder="load")
    assert "No load samples were stored" in placeholder.all_text()
    assert not dom.find_all("svg", "chart")
    assert "INTERRUPTED" in dom.find(id="verdict-badge").all_text()
    bar = dom.find("rect", "fault-bar")
    assert {"outcome-active_at_end", "open"} <= bar.classes
    assert "still active" in dom.find(id="faults").all_text()
    assert "No per-SLI and per-probe verdict" in dom.find(id="verdict").all_text()


def test_nulls_are_gaps_in_the_lines_not_zeros() -> None:
    document = passing_document()
    for point in document["series"]["load"][5:8]:
        point["latency_p99_ms"] = None
    dom = parse(render_html(document))
    p99 = chart(dom, "latency").find("g", "c-p99").find("path").attrs["d"]
    assert p99.count("M") == 2  # two stretches of line, nothing drawn at zero in between
    assert len(re.findall(r"[\d.]+ [\d.]+", p99)) == len(document["series"]["load"]) - 3


def _partial_documents() -> dict[str, dict[str, Any]]:
    passing = passing_document()
    no_faults = passing_document()
    no_faults["faults"] = []
    empty_series = passing_document()
    empty_series["series"] = {"load": [], "slis": [], "probes": []}
    never_ended = passing_document()
    never_ended["faults"][0].update(ended_s=None, outcome="active_at_end")
    never_ended["run"]["duration_s"] = None
    all_null = passing_document()
    for point in all_null["series"]["load"]:
        for key in point:
            if key not in ("t_s", "phase"):
                point[key] = None
    for sli in all_null["series"]["slis"]:
        for point in sli["points"]:
            point["value"] = None
    single = passing_document()
    single["series"]["load"] = single["series"]["load"][3:4]
    single["series"]["slis"][0]["points"] = single["series"]["slis"][0]["points"][:1]
    interrupted = interrupted_document()
    interrupted["verdict"] = interrupted["recovery"] = interrupted["gate"] = None
    return {
        "empty": {},
        "only a run": {"run": {"id": "r1", "status": "interrupted"}},
        "everything null": dict.fromkeys(passing, None),
        "empty series": empty_series,
        "no faults": no_faults,
        "interrupted, no verdict": interrupted,
        "a fault that never ended": never_ended,
        "all-null load values": all_null,
        "a single load point": single,
    }


@pytest.mark.parametrize("name", sorted(_partial_documents()))
def test_partial_documents_render(name: str) -> None:
    dom = parse(render_html(_partial_documents()[name]))
    assert dom.find(id="summary") and dom.find(id="verdict-badge")


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and first list item in a document, as paths."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from _paths(child, (*path, key))
    elif isinstance(value, list) and value:
        yield (*path, 0)
        yield from _paths(value[0], (*path, 0))


def _broken(document: dict[str, Any], path: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    """``document`` with the value at ``path`` removed, null, of another type, or (for a
    number) NaN, huge or tiny."""
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    value = parent[path[-1]]
    replacements: list[Any] = [None, [1] if isinstance(value, str) else "?"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        replacements += [float("nan"), 1.7e308, -1e308, 5e-324]  # overflow, underflow
    if isinstance(parent, dict):
        del parent[path[-1]]
        yield document
    for replacement in replacements:
        parent[path[-1]] = replacement
        yield document
    parent[path[-1]] = value


def _complete(page: str) -> bool:
    """A cheap check that a page was not cut short (the full parse is the slow part)."""
    balanced = all(
        page.count(f"<{tag}") == page.count(f"</{tag}>")
        for tag in ("svg", "section", "table", "script", "ul")
    )
    return page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n") and balanced


def test_any_key_missing_null_or_of_the_wrong_type_still_renders() -> None:
    """A property over the documents build_document makes: remove any one key, or make it
    null, of another type, NaN, huge or tiny, and a whole page still renders."""
    rendered = 0
    for make in (aborted_document, regressed_document):  # a stop trip; a comparison
        document = make()
        # the shape matters here, not the length: three of each series is enough
        for name in ("slis", "probes"):
            for item in document["series"][name]:
                del item.get("points", item.get("samples"))[3:]
        del document["series"]["load"][3:], document["timeline"][3:]
        for path in list(_paths(document)):
            for broken in _broken(document, path):
                assert _complete(render_html(broken)), path
                rendered += 1
    assert rendered > 800


# ---------------------------------------------------------------- long runs


def _hour_document() -> dict[str, Any]:
    """One hour at one load point a second, three SLIs of a point a second, one spike."""
    document = passing_document()
    load = []
    for t in range(3600):
        fault = 1200 <= t < 2400
        p99 = (900.0 if fault else 120.0) + (t % 7) * 10 + (5000.0 if t == 1800 else 0.0)
        load.append(
            {
                "t_s": t,
                "phase": "inject" if fault else "baseline",
                "requests": 100,
                "failures": 1 if fault else 0,
                "users": 4,
                "throughput_rps": 60.0 + t % 5 if fault else 100.0 + t % 5,
                "error_ratio": 0.005 * fault,
                "latency_p50_ms": p99 / 4,
                "latency_p90_ms": p99 / 2,
                "latency_p95_ms": p99 * 0.8,
                "latency_p99_ms": p99,
                "latency_max_ms": p99 * 1.2,
            }
        )
    document["series"]["load"] = load
    for sli in document["series"]["slis"]:
        sli["points"] = [
            {"t_s": t + 0.3, "phase": p["phase"], "value": p[sli["source"]], "ok": True}
            for t, p in enumerate(load)
        ]
    document["faults"][0].update(applied_s=1200.0, ended_s=2400.0)
    document["run"]["duration_s"] = 3601.0
    return document


def test_an_hour_long_run_renders_fast_small_and_keeps_its_spikes() -> None:
    document = _hour_document()
    started = time.perf_counter()
    page = render_html(document)
    took = time.perf_counter() - started
    assert took < 2.0, f"rendering an hour took {took:.2f}s"  # ~0.1 s on the CI box
    assert len(page.encode()) < 2_000_000
    latency = chart(parse(page), "latency")
    path = latency.find("g", "c-p99").find("path").attrs["d"]
    points = [tuple(map(float, pair.split())) for pair in re.findall(r"[\d.]+ [\d.]+", path)]
    width = float(latency.attrs["data-x1"]) - float(latency.attrs["data-x0"])
    assert len(points) <= 2 * width + 2  # thinned to two points per pixel column
    top = min(y for _, y in points)  # the 5000 ms spike at t=30m is still drawn
    spike_x = [x for x, y in points if y == top]
    assert len(spike_x) == 1
    middle = (float(latency.attrs["data-x0"]) + float(latency.attrs["data-x1"])) / 2
    assert spike_x[0] == pytest.approx(middle, abs=2)


def test_thinning_keeps_each_columns_extremes_in_time_order() -> None:
    points = [(float(t), float(t % 10)) for t in range(1000)]
    points[500] = (500.0, 99.0)
    kept = thin(points, lambda t: t / 10, 100)  # ten points per pixel column
    assert len(kept) == 200
    assert (500.0, 99.0) in kept
    assert [t for t, _ in kept] == sorted(t for t, _ in kept)
    assert thin(points[:150], lambda t: t / 10, 100) == points[:150]  # short: untouched


# ---------------------------------------------------------------- in a real browser

_CHECKS = """(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const all = (sel) => Array.from(document.querySelectorAll(sel));
  const charts = all("svg.chart");
  return {
    badge: document.getElementById("verdict-badge").innerText,
    badgeVisible: box(document.getElementById("verdict-badge")),
    title: document.title,
    charts: charts.length,
    chartsVisible: charts.filter(box).length,
    paths: all("svg.chart g.series path").map((p) => p.getTotalLength()),
    faultWindows: all("svg.chart rect.fault-window").filter(box).length,
    thresholds: all("svg.chart g.threshold, svg.chart g.threshold-fault").filter(box).length,
    timelineBars: all("svg.timeline rect.fault-bar").filter(box).length,
    verdictRows: all("#verdict tbody tr").filter(box).length,
    missing: all("#missing li").map((li) => li.innerText),
    placeholder: (document.querySelector("[data-placeholder=load]") || {}).innerText || null,
    readout: (document.getElementById("load-readout") || {}).innerText || null,
    width: document.documentElement.scrollWidth,
  };
})()"""


def _chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium); CI installs it")
    return CHROMIUM


def _open(browser: Browser, document: dict[str, Any], path: Path) -> dict[str, Any]:
    path.write_text(render_html(document), encoding="utf-8")
    browser.open(path.as_uri())
    return browser.evaluate(_CHECKS)


@pytest.mark.slow
def test_reports_load_without_errors_and_draw_their_charts_in_chromium(tmp_path: Path) -> None:
    binary = _chromium()
    passing, interrupted = passing_document(), interrupted_document()
    with Browser(tmp_path, binary=binary) as browser:
        seen = _open(browser, passing, tmp_path / "passing.html")
        assert browser.problems == []
        assert seen["badge"].split() == ["PASSED", "exit", "0"] and seen["badgeVisible"]
        assert seen["title"] == "shop-latency · passed · run pass0000abcd"
        charts = 3 + len(passing["series"]["slis"]) + len(passing["series"]["probes"])
        assert seen["charts"] == seen["chartsVisible"] == charts
        assert len(seen["paths"]) >= charts and all(length > 100 for length in seen["paths"])
        assert seen["faultWindows"] == charts * len(passing["faults"])
        # load charts: throughput, errors, p99 + p99 in fault; SLI charts the same four
        assert seen["thresholds"] == 8
        assert seen["timelineBars"] == 1
        assert seen["verdictRows"] == len(passing["verdict"])
        hint = "Point at a chart to read that second's figures."
        assert seen["readout"] == hint
        assert seen["width"] <= 1280  # nothing wider than the window

        # the read-out follows the pointer over a chart
        x, y = browser.evaluate(
            "(() => { const r = document.querySelector('svg[data-chart=latency]')"
            ".getBoundingClientRect(); window.scrollTo(0, r.top + window.scrollY - 100);"
            " const s = document.querySelector('svg[data-chart=latency]')"
            ".getBoundingClientRect(); return [s.left + s.width / 2, s.top + s.height / 2]; })()"
        )
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        readout = browser.evaluate("document.getElementById('load-readout').innerText")
        assert re.match(r"t\+\d+s \((inject|baseline)\) · \d+\.\d req/s", readout), readout
        assert (
            browser.evaluate(
                "document.querySelector('svg[data-chart=errors] line.crosshair')"
                ".getAttribute('visibility')"
            )
            == "visible"
        )
        # pointer away and back to the top, so the screenshot shows the page as it opens
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 2, "y": 2})
        browser.evaluate("window.scrollTo(0, 0)")
        assert browser.evaluate("document.getElementById('load-readout').innerText") == hint

        page = browser.screenshot()
        (tmp_path / "passing.png").write_bytes(page)
        width, height = png_size(page)
        assert width == 1280 and height > 2000
        # a page of one colour filters down to a handful of byte values; a drawn one to ~all
        assert len(set(png_scanlines(page))) > 128
        # the throughput chart, as painted: white plot, a blue line, amber fault shading
        box = browser.evaluate(
            "(() => { const r = document.querySelector('svg[data-chart=throughput]')"
            ".getBoundingClientRect(); return {x: r.left + window.scrollX,"
            " y: r.top + window.scrollY, width: r.width, height: r.height}; })()"
        )
        pixels = png_pixels(browser.screenshot(box))
        colours = {pixel[:3] for pixel in pixels}
        assert len(colours) > 50
        assert _near(colours, (0x25, 0x63, 0xEB))  # the throughput line
        assert _near(colours, (0xFD, 0xF0, 0xDA), tolerance=12)  # the fault window
        assert browser.problems == []

        seen = _open(browser, interrupted, tmp_path / "interrupted.html")
        assert browser.problems == []
        assert seen["badge"].split() == ["INTERRUPTED", "no", "exit", "code"]
        assert seen["charts"] == 0 and seen["readout"] is None
        assert seen["missing"] == interrupted["missing"]
        assert seen["placeholder"].startswith("No load samples were stored")
        assert seen["timelineBars"] == 1
        shot = browser.screenshot()
        (tmp_path / "interrupted.png").write_bytes(shot)
        assert png_size(shot)[1] > 1000 and len(set(png_scanlines(shot))) > 128


def _near(colours: set[tuple[int, ...]], colour: tuple[int, ...], tolerance: int = 30) -> bool:
    """Whether any colour is within ``tolerance`` of ``colour`` on every channel."""
    return any(
        max(abs(a - b) for a, b in zip(c, colour, strict=True)) <= tolerance for c in colours
    )
