"""The CI examples cannot drift from the CLI or the action: every ``chaos`` command line
in docs/ci.md, docs/examples/gitlab-ci.yml and action.yml uses only options the real
command accepts, the GitLab jobs publish their JUnit report, and every use of the action
in the docs passes only inputs it declares."""

from __future__ import annotations

import re
import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.cli_options import invocations, unknown_options

REPO = Path(__file__).resolve().parents[2]
CI_DOC = REPO / "docs" / "ci.md"
GITLAB = REPO / "docs" / "examples" / "gitlab-ci.yml"
ACTION = REPO / "action.yml"
CODE_BLOCK = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
OUR_ACTION = {"./", "OWNER/chaos-platform@v1"}
GITLAB_KEYWORDS = {"stages", "variables", "default", "include", "workflow"}


class Reference(list):
    """GitLab's ``!reference [job, key]``."""


class GitLabLoader(yaml.SafeLoader):
    pass


GitLabLoader.add_constructor(
    "!reference", lambda loader, node: Reference(loader.construct_sequence(node))
)


def load_gitlab(text: str) -> Any:
    return yaml.load(text, Loader=GitLabLoader)  # a SafeLoader with one more tag


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolved_jobs(pipeline: dict) -> dict[str, dict]:
    """Visible jobs with ``extends`` merged in (GitLab's deep merge; lists replace)."""

    def resolve(name: str) -> dict:
        job = pipeline[name]
        parents = job.get("extends", [])
        merged: dict = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            merged = deep_merge(merged, resolve(parent))
        return deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})

    names = [n for n in pipeline if not n.startswith(".") and n not in GITLAB_KEYWORDS]
    return {name: resolve(name) for name in names}


def script_lines(pipeline: dict, items: list) -> Iterator[str]:
    for item in items:
        if isinstance(item, Reference):
            target = pipeline
            for key in item:
                target = target[key]
            yield from script_lines(pipeline, target)
        elif isinstance(item, list):
            yield from script_lines(pipeline, item)
        else:
            yield item


def substitute(line: str, variables: dict[str, str]) -> str:
    """Job variables into a script line, as the shell would (CI's own ones stay)."""
    pattern = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
    return pattern.sub(lambda m: str(variables.get(m.group(1), m.group(0))), line)


def gitlab_invocations() -> list[tuple[str, tuple[str, ...], list[str]]]:
    pipeline = load_gitlab(GITLAB.read_text())
    found = []
    for name, job in resolved_jobs(pipeline).items():
        variables = {**pipeline.get("variables", {}), **job.get("variables", {})}
        for key in ("before_script", "script", "after_script"):
            for line in script_lines(pipeline, job.get(key, [])):
                for path, args in invocations(substitute(line, variables)):
                    found.append((f"gitlab-ci.yml:{name}.{key}", path, args))
    return found


def doc_blocks() -> list[tuple[str, str]]:
    return [
        (lang, textwrap.dedent(body))
        for lang, body in CODE_BLOCK.findall(CI_DOC.read_text())
        if lang in ("sh", "bash", "yaml")
    ]


def doc_invocations() -> list[tuple[str, tuple[str, ...], list[str]]]:
    return [
        (f"docs/ci.md block {index}", path, args)
        for index, (_, body) in enumerate(doc_blocks())
        for path, args in invocations(body)
    ]


def action_invocations() -> list[tuple[str, tuple[str, ...], list[str]]]:
    """The action's command lines, and the options it collects in its run_args array."""
    found = []
    for step in yaml.safe_load(ACTION.read_text())["runs"]["steps"]:
        script = step.get("run", "")
        where = f"action.yml:{step.get('id', step['name'])}"
        found += [(where, path, args) for path, args in invocations(script)]
        for array in re.findall(r"\brun_args\+?=\((.*?)\)", script):
            found.append((f"{where} run_args", ("run",), shlex.split(array)))
    return found


ALL = doc_invocations() + gitlab_invocations() + action_invocations()


@pytest.mark.parametrize(
    ("where", "path", "args"), ALL, ids=[f"{w}: chaos {' '.join(p)}" for w, p, _ in ALL]
)
def test_every_chaos_command_line_uses_real_options(where, path, args):
    assert unknown_options(path, args) == [], f"{where}: chaos {' '.join(path)} {args}"


def test_the_command_lines_were_found():
    """The extraction itself works: each source's known command lines are all there."""
    paths = {}
    for where, path, _ in ALL:
        paths.setdefault(where.split(":")[0].split(" ")[0], set()).add(path)
    assert paths["docs/ci.md"] >= {("run",), ("report",)}
    assert paths["gitlab-ci.yml"] == {("run",), ("lab", "up"), ("lab", "down")}
    assert paths["action.yml"] == {("run",), ("lab", "up"), ("lab", "status"), ("lab", "down")}
    (run_args,) = [args for where, _, args in ALL if where.endswith("run_args")][:1]
    assert {"--no-color", "--junit", "--json", "--markdown", "--html"} <= set(run_args)


def test_every_gitlab_job_publishes_its_junit_report_always():
    pipeline = load_gitlab(GITLAB.read_text())
    jobs = resolved_jobs(pipeline)
    assert set(jobs) == {"chaos-lab", "chaos-staging"}
    for name, job in jobs.items():
        artifacts = job["artifacts"]
        assert artifacts["when"] == "always", name
        assert artifacts["reports"]["junit"] == "chaos-reports/junit.xml", name
        assert "chaos-reports/" in artifacts["paths"], name
        runs = [
            args for where, path, args in gitlab_invocations() if name in where and path == ("run",)
        ]
        (run,) = runs
        assert run[run.index("--junit") + 1] == artifacts["reports"]["junit"]
    lab = jobs["chaos-lab"]
    after = " ".join(script_lines(pipeline, lab["after_script"]))
    assert "chaos lab down" in after and "CHAOS_LAB" in lab["variables"]


def test_the_gitlab_job_shown_in_the_doc_is_the_one_in_the_file():
    pipeline = load_gitlab(GITLAB.read_text())
    shown = [
        load_gitlab(body)
        for lang, body in doc_blocks()
        if lang == "yaml" and "extends: .chaos" in body
    ]
    assert shown, "docs/ci.md shows no GitLab job"
    for block in shown:
        for name, job in block.items():
            assert job == pipeline[name], f"docs/ci.md's {name} differs from {GITLAB.name}"


def action_uses(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        if node.get("uses") in OUR_ACTION:
            yield node
        for value in node.values():
            yield from action_uses(value)
    elif isinstance(node, list):
        for value in node:
            yield from action_uses(value)


def test_the_docs_use_the_action_with_declared_inputs_only():
    declared = yaml.safe_load(ACTION.read_text())["inputs"]
    uses = [
        step
        for lang, body in doc_blocks()
        if lang == "yaml"
        for step in action_uses(load_gitlab(body))
    ]
    assert len(uses) >= 6
    for step in uses:
        inputs = step.get("with", {})
        assert set(inputs) <= set(declared), set(inputs) - set(declared)
        assert "experiment" in inputs
        for name in ("lab", "upload", "fail-on-regression"):
            assert inputs.get(name, "false") in ("true", "false"), (name, inputs)
