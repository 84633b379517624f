"""Game-day plans load with every experiment they name, and every problem of the plan and
of those experiments is reported at once, each at its own file:line:col."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.gameday import ExperimentStep, HoldStep
from chaos.spec.loader import load_file, load_gameday_file, load_gameday_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "experiments" / "gamedays" / "lab-resilience.yaml"
KILL = REPO / "experiments" / "lab-api-kill.yaml"

PLAN = """\
apiVersion: chaos/v1
kind: GameDay
metadata: {name: q4-resilience, owners: [sre-team], description: quarterly}
spec:
  notes: "Pager muted"
  steps:
    - experiment: kill.yaml
      notes: "expect one retry per request"
    - hold: "Check dashboards before the partition"
    - experiment: sub/kill.yaml
      name: kill-again
      continueOnFailure: true
"""


def messages(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [str(issue) for issue in exc.value.issues]


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    for path in (tmp_path / "kill.yaml", tmp_path / "sub" / "kill.yaml"):
        path.write_text(KILL.read_text())
    (tmp_path / "plan.yaml").write_text(PLAN)
    return tmp_path


def test_a_plan_loads_with_its_experiments_relative_to_the_plan(plan_dir: Path) -> None:
    plan = load_gameday_file(plan_dir / "plan.yaml", catalog=CATALOG)
    assert plan.name == "q4-resilience"
    assert plan.gameday.metadata.owners == ("sre-team",)
    assert plan.gameday.spec.notes == "Pager muted"
    first, hold, second = plan.steps
    assert isinstance(first.step, ExperimentStep) and not first.step.continue_on_failure
    assert first.path == plan_dir / "kill.yaml" and first.label == "lab-api-kill"
    assert first.experiment == load_file(KILL, catalog=CATALOG)
    assert isinstance(hold.step, HoldStep) and hold.is_hold and hold.experiment is None
    assert second.path == plan_dir / "sub" / "kill.yaml" and second.label == "kill-again"
    assert isinstance(second.step, ExperimentStep) and second.step.continue_on_failure
    assert plan.holds == (hold,) and plan.experiments == (first, second)


def test_the_example_plan_is_valid() -> None:
    plan = load_gameday_file(EXAMPLE, catalog=CATALOG)
    assert plan.name == EXAMPLE.stem
    assert all(step.path and step.path.is_file() for step in plan.experiments)
    assert "/../" not in str(plan.steps[0].path)  # ../lab-api-kill.yaml shown where it is


def test_every_problem_of_the_plan_and_its_experiments_at_once(plan_dir: Path) -> None:
    broken = KILL.read_text().replace("signal: KILL", "signal: KILLL")
    (plan_dir / "bad.yaml").write_text(broken.replace("duration: 6s", "duration: 6 parsecs"))
    text = PLAN.replace("q4-resilience", "Q4").replace(
        "    - hold:",
        "    - experiment: bad.yaml\n    - pause: 3s\n    - experiment: nope.yaml\n"
        "    - experiment: bad.yaml\n    - hold:",
    )
    with pytest.raises(SpecError) as exc:
        load_gameday_text(text, file="plan.yaml", base=plan_dir, catalog=CATALOG)
    bad = plan_dir / "bad.yaml"
    signal_line = next(i for i, line in enumerate(broken.splitlines(), 1) if "KILLL" in line)
    assert messages(exc) == [
        "plan.yaml:3:18: metadata.name: use lower-case letters, digits and '-' (like a DNS label)",
        "plan.yaml:9:19: spec.steps[1].experiment: experiment 'bad.yaml' is invalid "
        "(2 problem(s) in that file)",
        "plan.yaml:10:7: spec.steps[2]: a game-day step needs one of: experiment, hold",
        f"plan.yaml:11:19: spec.steps[3].experiment: no experiment file '{plan_dir}/nope.yaml'",
        "plan.yaml:12:19: spec.steps[4].experiment: experiment 'bad.yaml' is invalid "
        "(2 problem(s) in that file)",
        # the experiment's own problems once, at its own lines, though it is named twice
        f"{bad}:{signal_line}:24: spec.method[0].params.signal: Input should be 'KILL', "
        "'TERM', 'INT', 'HUP', 'QUIT', 'USR1' or 'USR2'",
        f"{bad}:{signal_line + 1}:17: spec.method[0].duration: invalid duration '6 parsecs': "
        "use a number and a unit (ms, s, m, h)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["plan.yaml:1:1: the file is empty"]),
        (
            "steps: [a\n",
            ["plan.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"],
        ),
        (
            "- a\n",
            ["plan.yaml:1:1: a game day must be a mapping with apiVersion, kind, metadata, spec"],
        ),
        (
            "apiVersion: chaos/v1\nkind: Experiment\nmetadata: {name: x}\nspec: {steps: []}\n",
            [
                "plan.yaml:2:7: kind: Input should be 'GameDay'",
                "plan.yaml:4:15: spec.steps: Tuple should have at least 1 item after validation, "
                "not 0",
            ],
        ),
        (
            "apiVersion: chaos/v1\nkind: GameDay\nmetadata: {name: x}\n"
            "spec:\n  steps:\n    - {experiment: x.yaml, continueOnFailure: maybe}\n",
            [
                "plan.yaml:6:20: spec.steps[0].experiment: no experiment file '{dir}/x.yaml'",
                "plan.yaml:6:47: spec.steps[0].continueOnFailure: Input should be a valid boolean, "
                "unable to interpret input",
            ],
        ),
    ],
    ids=["empty", "yaml", "not-a-mapping", "wrong-kind", "missing-file-and-bad-flag"],
)
def test_malformed_plans(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(SpecError) as exc:
        load_gameday_text(text, file="plan.yaml", base=tmp_path, catalog=CATALOG)
    found = messages(exc)
    assert found == [line.replace("{dir}", str(tmp_path)) for line in expected]


def test_a_step_with_both_experiment_and_hold_is_refused(plan_dir: Path) -> None:
    text = PLAN.replace("    - hold:", "    - experiment: kill.yaml\n      hold:")
    with pytest.raises(SpecError) as exc:
        load_gameday_text(text, file="plan.yaml", base=plan_dir, catalog=CATALOG)
    assert messages(exc) == ["plan.yaml:10:7: spec.steps[1].hold: unknown field"]


def test_the_docs_game_day_examples_validate() -> None:
    """Each ```yaml block of docs/gamedays.md holding a GameDay loads, its experiments
    resolved from experiments/gamedays/ (where the example plan lives)."""
    doc = (REPO / "docs" / "gamedays.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL) if "kind: GameDay" in b]
    assert blocks
    for index, block in enumerate(blocks):
        load_gameday_text(block, file=f"gamedays.md#{index}", base=EXAMPLE.parent, catalog=CATALOG)
