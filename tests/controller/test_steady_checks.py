"""What the sampler runs each interval, and how long the run waits for the slowest."""

from __future__ import annotations

from chaos.controller.steady_checks import longest_timeout, steady_checks
from tests.controller.experiments import experiment as make_experiment

REST = """\
  steadyState:
    probes:
      - {name: homepage, http: {url: "http://127.0.0.1:1/", status: 200, timeout: 1500ms}}
    slis:
      - {name: errors, metric: error_ratio, threshold: "< 10%"}
      - name: queue
        prometheus: {url: "http://127.0.0.1:9090", query: "sum(queue)", timeout: 3s}
        threshold: "< 100"
"""


def steady():
    return make_experiment("checks", REST).spec.steady_state


def test_probes_and_prometheus_slis_are_sampled_load_slis_are_not():
    assert [check.name for check in steady_checks(steady())] == ["homepage", "queue"]


def test_the_slowest_check_sets_how_long_in_flight_samples_may_take():
    assert longest_timeout(steady()) == 3.0
    only_load = steady().model_copy(update={"probes": [], "slis": []})
    assert longest_timeout(only_load) == 0.0
