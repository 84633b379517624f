"""Experiments for controller tests: one API target under built-in load, one partition
step, and whatever steady state and stop conditions the test is about."""

from __future__ import annotations

from chaos.faults import CATALOG
from chaos.spec.loader import load_text
from chaos.spec.models import Experiment

HEAD = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: {name}}}
spec:
  targets:
    api: {{selector: {{labels: {{app: api}}}}}}
  load: {{host: "http://127.0.0.1:1", tasks: [{{path: /}}]}}
  method:
    - {{fault: network-partition, target: api, duration: 5s}}
"""


def experiment(name: str, rest: str) -> Experiment:
    """``rest``: the spec's other sections (steadyState, phases, stopConditions), YAML
    indented by two spaces."""
    return load_text(HEAD.format(name=name) + rest, file=f"{name}.yaml", catalog=CATALOG)
