"""The loader turns YAML into frozen models and reports every problem with file:line:col."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.loader import load_file, load_text
from chaos.spec.models import FaultStep, ParallelStep, PauseStep

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

GOOD = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {name: demo}
spec:
  targets:
    api: {selector: {labels: {app: api}}, mode: one}
    store: {selector: {labels: {app: store}}}
  steadyState:
    probes:
      - name: home
        http: {url: "http://127.0.0.1:1/", latency: "< 500", status: [200, 204]}
  method:
    - fault: network-latency
      target: api
      params: {delay: 200ms, jitter: 20ms, to: [store]}
      duration: 5s
    - pause: 1s
    - parallel:
        - {fault: process-kill, target: api}
        - {fault: network-partition, target: store, params: {action: reject}, duration: 2s}
  stopConditions:
    - {probe: home, for: 3s}
"""


def load(text: str):
    return load_text(text, file="x.yaml", catalog=CATALOG)


def issues(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(text)
    return [str(issue) for issue in caught.value.issues]


def test_a_good_experiment_becomes_typed_frozen_models():
    experiment = load(GOOD)
    first, pause, parallel = experiment.spec.method
    assert isinstance(first, FaultStep) and first.params.delay == pytest.approx(0.2)
    assert first.params.to == ("store",)
    assert isinstance(pause, PauseStep) and pause.pause == 1.0
    assert isinstance(parallel, ParallelStep) and parallel.parallel[0].fault == "process-kill"
    assert experiment.spec.steady_state.probes[0].http.status == (200, 204)
    assert experiment.spec.stop_conditions[0].for_ == 3.0
    with pytest.raises(ValidationError):
        first.target = "store"  # frozen


def test_every_problem_is_reported_at_once_with_its_position():
    text = GOOD.replace("delay: 200ms", "delay: fast").replace("mode: one", "mode: many")
    text = text.replace("target: store, params", "target: nowhere, params")
    found = issues(text)
    assert "x.yaml:6:49: spec.targets.api.mode: invalid mode 'many'" in found[0]
    assert any(i.startswith("x.yaml:15:") and "params.delay" in i for i in found)
    assert any(i.startswith("x.yaml:20:") and "no target named 'nowhere'" in i for i in found)
    assert len(found) == 3


def test_unknown_fields_and_faults_are_named():
    text = GOOD.replace("pause: 1s", "pause: 1s\n      colour: red").replace(
        "fault: network-latency", "fault: network-lag"
    )
    found = issues(text)
    assert any("spec.method[1].colour: unknown field" in i for i in found)
    assert any("spec.method[0].fault: unknown fault 'network-lag'" in i for i in found)


def test_reversible_fault_without_duration_is_refused():
    found = issues(GOOD.replace("      duration: 5s\n", ""))
    assert any("needs a duration" in i and "spec.method[0]" in i for i in found)


def test_references_to_probes_and_targets_are_checked():
    found = issues(GOOD.replace("{probe: home, for: 3s}", "{probe: homepage, for: 3s}"))
    assert found == ["x.yaml:22:15: spec.stopConditions[0].probe: no probe named 'homepage'"]


def test_invalid_yaml_is_located():
    found = issues("apiVersion: chaos/v1\nkind: [unclosed\n")
    assert found[0].startswith("x.yaml:3:1: invalid YAML")


def test_duplicate_keys_are_errors_not_silently_overwritten():
    found = issues(GOOD.replace("metadata: {name: demo}", "metadata: {name: demo, name: other}"))
    assert any("metadata.name: duplicate key" in i for i in found)


def test_interpolation_reads_only_the_variables_given():
    text = GOOD.replace('"http://127.0.0.1:1/"', '"${CHAOS_VAR_LAB_URL:-http://127.0.0.1:2}/"')
    assert load(text).spec.steady_state.probes[0].http.url == "http://127.0.0.1:2/"
    given = {"CHAOS_VAR_LAB_URL": "http://127.0.0.1:3"}
    experiment = load_text(text, file="x.yaml", catalog=CATALOG, variables=given)
    assert experiment.spec.steady_state.probes[0].http.url == "http://127.0.0.1:3/"
    found = issues(GOOD.replace('"http://127.0.0.1:1/"', '"${CHAOS_VAR_NOT_SET}/"'))
    assert any("CHAOS_VAR_NOT_SET is not set and has no default" in i for i in found)


def test_empty_and_non_mapping_files():
    assert issues("") == ["x.yaml:1:1: the file is empty"]
    assert "must be a mapping" in issues("- a\n- b\n")[0]


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read file"):
        load_file(tmp_path / "nope.yaml", catalog=CATALOG)


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_catalogue_experiments_are_valid(path):
    assert load_file(path, catalog=CATALOG).metadata.name == path.stem


LOADED = GOOD.replace(
    "  steadyState:\n",
    """\
  load:
    host: "http://127.0.0.1:1"
    users: 5
    tasks:
      - {path: /, weight: 3}
      - {method: POST, path: /orders, status: [201, 202]}
  steadyState:
    slis:
      - {name: p99, metric: latency_p99_ms, threshold: "< 300", window: 5s, duringFault: "< 2s"}
      - {name: errors, metric: error_ratio, threshold: "< 1%", for: 2s}
      - name: queue
        prometheus: {url: "http://127.0.0.1:9090", query: "sum(queue_depth)"}
        threshold: "< 100"
""",
).replace(
    "    - {probe: home, for: 3s}",
    "    - {probe: home, for: 3s}\n    - {sli: errors, threshold: '> 20%', for: 1s}",
)


def test_load_slis_and_sli_stop_conditions_are_typed():
    spec = load(LOADED).spec
    assert spec.load is not None and spec.load.tasks[1].status == (201, 202)
    p99, errors, queue = spec.steady_state.slis
    assert p99.window == 5.0 and p99.during_fault.value == 2000
    assert errors.threshold.value == pytest.approx(0.01) and errors.for_ == 2.0
    assert queue.prometheus.query == "sum(queue_depth)"
    assert spec.stop_conditions[1].sli == "errors"
    assert spec.stop_conditions[1].threshold.value == pytest.approx(0.2)


def test_a_load_sli_without_load_is_refused_at_validation():
    text = LOADED.replace("  load:\n", "  unused:\n")
    found = issues(text)
    assert any(
        "spec.steadyState.slis[0].metric: metric 'latency_p99_ms' is computed from load" in i
        for i in found
    )


def test_sli_and_probe_references_and_names_are_checked():
    text = LOADED.replace("{sli: errors,", "{sli: error,").replace("name: queue", "name: home")
    text = text.replace("metadata: {name: demo}", "metadata: {name: demo}") + (
        "  phases: {tolerateDuringFault: [p99, nothing]}\n"
    )
    found = issues(text)
    assert any("stopConditions[1].sli: no sli named 'error'" in i for i in found)
    assert any("slis[2].name: 'home' is already the name of a probe" in i for i in found)
    assert any("tolerateDuringFault[1]: no probe or SLI named 'nothing'" in i for i in found)


def test_an_sli_needs_exactly_one_source_and_a_stop_condition_one_subject():
    text = LOADED.replace(
        'query: "sum(queue_depth)"}', 'query: "sum(queue_depth)"}\n        metric: error_ratio'
    )
    text = text.replace("{sli: errors, threshold", "{sli: errors, probe: home, threshold")
    found = issues(text)
    assert any("slis[2]: an SLI needs exactly one source" in i for i in found)
    assert any("stopConditions[1]: a stop condition needs exactly one of" in i for i in found)


def test_locustfile_must_exist_and_compile(tmp_path):
    broken = tmp_path / "load.py"
    broken.write_text("from locust import HttpUser\n\ndef oops(:\n")
    text = LOADED.replace(
        "    tasks:\n      - {path: /, weight: 3}\n", "    locustfile: load.py\n    tasks:\n"
    )
    text = text.replace("      - {method: POST, path: /orders, status: [201, 202]}\n", "")
    text = text.replace("    tasks:\n", "")
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_file(experiment, catalog=CATALOG)
    found = [str(i) for i in caught.value.issues]
    assert any(f"spec.load.locustfile: locustfile {broken}:3:" in i for i in found), found
    broken.unlink()
    with pytest.raises(SpecError) as caught:
        load_file(experiment, catalog=CATALOG)
    assert "cannot read locustfile" in str(caught.value.issues[0])
    broken.write_text("from locust import HttpUser\n")
    assert load_file(experiment, catalog=CATALOG).spec.load.locustfile == "load.py"
