"""The local stand-in for GitHub's runner behaves like the runner where our action relies
on it, and refuses what it does not model."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.ci.action_runner import ActionError, load_action, run_action
from tests.ci.expressions import ExpressionError, condition, expand, parse, should_run

REPO = Path(__file__).resolve().parents[2]


def write_action(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "action.yml").write_text(textwrap.dedent(body))
    return directory


HEADER = """\
name: t
description: t
inputs:
  word: {description: a word, default: hello}
  flag: {description: a flag, default: 'false'}
"""


def run(tmp_path: Path, steps: str, outputs: str = "", **inputs: str):
    body = (
        HEADER
        + outputs
        + "\nruns:\n  using: composite\n  steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "    ")
    )
    action = load_action(write_action(tmp_path / "action", body))
    return run_action(
        action,
        inputs=inputs,
        workspace=tmp_path / "ws",
        runner_temp=tmp_path / "temp",
        artifacts=tmp_path / "artifacts",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


def test_our_action_yml_is_valid_for_the_runner():
    action = load_action(REPO)
    assert action.step_ids() == ["install", "lab", "run", "lab-down", "upload", "gate"]
    assert set(action.outputs) == {"verdict", "exit-code", "reports-dir"}


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ("- run: echo hi\n", "needs shell: bash"),
        ("- run: echo ${{ inputs.word }}\n  shell: bash\n", "${{ }} inside run:"),
        ("- run: echo\n  shell: bash\n  env: {X: '${{ inputs.nope }}'}\n", "not a declared input"),
        ("- run: echo\n  shell: bash\n  if: steps.later.outputs.x == 'a'\n", "no earlier step"),
        ("- uses: actions/checkout@v4\n", "is not modelled here"),
        ("- run: echo\n  shell: bash\n  if: inputs.word || always()\n", "unsupported"),
        ("- run: echo\n  shell: bash\n  if: contains(inputs.word, 'x')\n", "unsupported"),
        ("- run: echo\n  shell: bash\n  env: {X: '${{ github.sha }}'}\n", "unsupported context"),
        ("- run: echo\n  shell: bash\n  continue-on-error: true\n", "unsupported key"),
        ("- uses: actions/upload-artifact@v4\n  with: {name: x}\n", "with.path is required"),
    ],
)
def test_invalid_actions_are_refused_before_anything_runs(tmp_path, steps, problem):
    marker = tmp_path / "ran"
    with pytest.raises(ActionError, match=problem.replace("$", r"\$").replace("{", r"\{")):
        run(tmp_path, steps + f"- run: touch {marker}\n  shell: bash\n")
    assert not marker.exists()


def test_composite_and_outputs_are_checked(tmp_path):
    body = HEADER.replace("name: t\n", "") + "runs: {using: node20, main: x.js}\n"
    with pytest.raises(ActionError) as error:
        load_action(write_action(tmp_path, body))
    assert "missing top-level 'name'" in str(error.value)
    assert "runs.using must be 'composite'" in str(error.value)
    outputs = "outputs:\n  x: {description: x, value: '${{ steps.gone.outputs.x }}'}\n"
    with pytest.raises(ActionError, match="no earlier step has id 'gone'"):
        run(tmp_path / "2", "- run: echo\n  shell: bash\n", outputs)


def test_inputs_are_stricter_than_github(tmp_path):
    with pytest.raises(ActionError, match="unexpected inputs"):
        run(tmp_path, "- run: echo\n  shell: bash\n", wrod="typo")


def test_env_path_and_outputs_flow_to_later_steps_and_the_action_outputs(tmp_path):
    result = run(
        tmp_path,
        """\
        - id: first
          shell: bash
          env: {WORD: '${{ inputs.word }}'}
          run: |
            mkdir -p "$RUNNER_TEMP/bin"
            printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/bin/tool"
            chmod +x "$RUNNER_TEMP/bin/tool"
            echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
            echo "SHARED=$WORD-shared" >> "$GITHUB_ENV"
            echo "single=$WORD" >> "$GITHUB_OUTPUT"
            printf 'multi<<EOF\\nline 1\\nline=2\\nEOF\\n' >> "$GITHUB_OUTPUT"
            echo "# summary of $WORD" >> "$GITHUB_STEP_SUMMARY"
            [ "$PWD" = "$GITHUB_WORKSPACE" ] && [ -f "$GITHUB_ACTION_PATH/action.yml" ]
        - id: second
          shell: bash
          env:
            FROM_FIRST: '${{ steps.first.outputs.single }}'
            SHARED: step env wins
          run: |
            echo "seen=$(tool) $SHARED $FROM_FIRST" >> "$GITHUB_OUTPUT"
        """,
        outputs="outputs:\n  seen: {description: s, value: 'got ${{ steps.second.outputs.seen }}'}",
        word="Hi",
    )
    assert result.succeeded, result.transcript()
    assert result.step("first").outputs == {"single": "Hi", "multi": "line 1\nline=2"}
    assert result.outputs == {"seen": "got tool-ran step env wins Hi"}
    assert result.env == {"SHARED": "Hi-shared"}
    assert result.summary == "# summary of Hi\n"


def test_after_a_failure_only_always_steps_run_and_annotations_are_collected(tmp_path):
    result = run(
        tmp_path,
        """\
        - id: fails
          shell: bash
          run: |
            echo '::error::broke 100%25 of it%0Aline two'
            false
            echo "not reached because of bash -e"
        - id: skipped
          shell: bash
          run: echo skipped
        - id: cleanup
          if: always() && inputs.flag == 'TRUE'
          shell: bash
          run: echo cleanup
        - id: not-asked
          if: always() && inputs.flag != 'true'
          shell: bash
          run: echo not asked
        """,
        flag="true",
    )
    assert not result.succeeded
    outcomes = {step.id: step.outcome for step in result.steps}
    assert outcomes == {
        "fails": "failure",
        "skipped": "skipped",
        "cleanup": "success",
        "not-asked": "skipped",
    }
    assert "not reached" not in result.step("fails").log
    assert result.errors() == ["broke 100% of it\nline two"]


def test_upload_artifact_copies_the_directory_and_fails_on_nothing_to_upload(tmp_path):
    result = run(
        tmp_path,
        """\
        - shell: bash
          run: |
            mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt
            echo h > out/.hidden
        - uses: actions/upload-artifact@v4
          with: {name: reports, path: out, if-no-files-found: error}
        - uses: actions/upload-artifact@v4
          with: {name: reports, path: out}
        - uses: actions/upload-artifact@v4
          if: always()
          with: {name: missing, path: nowhere, if-no-files-found: error}
        """,
    )
    first, conflict, missing = result.steps[1:]
    assert first.outcome == "success"
    files = sorted(p.relative_to(result.artifacts) for p in result.artifacts.rglob("*.txt"))
    assert files == [Path("reports/a.txt"), Path("reports/sub/b.txt")]
    assert not (result.artifacts / "reports" / ".hidden").exists()
    assert conflict.outcome == "failure"
    assert missing.outcome == "failure"
    assert "No files were found with the provided path: nowhere" in result.errors()[-1]


def test_expressions_follow_github_semantics():
    values = {("inputs", "lab"): "True", ("inputs", "empty"): ""}

    def resolve(ref):
        return values[ref.path]

    assert should_run(condition("inputs.lab == 'true'"), job_failed=False, resolve=resolve)
    assert not should_run(condition("inputs.lab == 'true'"), job_failed=True, resolve=resolve)
    assert should_run(condition("${{ always() }}"), job_failed=True, resolve=resolve)
    assert not should_run(condition("inputs.empty"), job_failed=False, resolve=resolve)
    assert expand("a ${{ inputs.lab }} ${{ inputs.lab != 'x' }} b", resolve) == "a True true b"
    assert expand("${{ 'it''s' }}", resolve) == "it's"
    assert parse("inputs.a-b == 'x' && always()").calls_always
    for bad in ("!inputs.lab", "inputs.lab == ", "(inputs.lab)", "format('{0}', 1)", "1 == 1"):
        with pytest.raises(ExpressionError):
            parse(bad)
