"""The real `chaos` CLI in a subprocess: validate, schema, help, and refusing bad input early."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.faults import CATALOG
from tests.support import chaos_env, run_chaos

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
ISSUE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")


def chaos(*args: str, cwd: Path = REPO, home: Path | None = None) -> subprocess.CompletedProcess:
    env = chaos_env(PYTHONPATH=str(REPO))
    if home is not None:  # so a default store could never land in the real home
        env["XDG_DATA_HOME"] = str(home)
    return run_chaos(*args, env=env, cwd=cwd)


def issue_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ISSUE_LINE.match(line)]


# ------------------------------------------------------------------ breaking real experiments
# Each breaker edits the lines of an experiment and returns the exact issue line (after the
# file name) that `chaos validate` must print for it.

Breaker = Callable[[list[str]], str]


def index_of(lines: list[str], pattern: str, *, after: int = 0) -> int:
    for index in range(after, len(lines)):
        if re.match(pattern, lines[index]):
            return index
    raise AssertionError(f"no line matching {pattern!r}")


def unknown_field_under_spec(lines: list[str]) -> str:
    spec = index_of(lines, r"^spec:\s*$")
    lines.insert(spec + 1, "  colour: red")
    return f"{spec + 2}:3: spec.colour: unknown field"


def bad_duration(lines: list[str]) -> str:
    index = index_of(lines, r"^    baseline: ")
    lines[index] = "    baseline: soon"
    column = lines[index].index("soon") + 1
    return (
        f"{index + 1}:{column}: spec.phases.baseline: "
        "invalid duration 'soon': use a number and a unit (ms, s, m, h)"
    )


def undefined_target(lines: list[str]) -> str:
    method = index_of(lines, r"^  method:\s*$")
    index = index_of(lines, r"^\s+target: ", after=method)
    lines[index] = re.sub(r"target: .*$", "target: nowhere", lines[index])
    column = lines[index].index("nowhere") + 1
    return f"{index + 1}:{column}: spec.method[0].target: no target named 'nowhere' in spec.targets"


def invalid_yaml(lines: list[str]) -> str:
    spec = index_of(lines, r"^spec:\s*$")
    lines.insert(spec + 1, "  oops: a: b")
    column = lines[spec + 1].index(": b") + 1  # the second colon
    return f"{spec + 2}:{column}: invalid YAML: mapping values are not allowed here"


BREAKERS: dict[str, Breaker] = {
    "unknown-field": unknown_field_under_spec,
    "bad-duration": bad_duration,
    "undefined-target": undefined_target,
    "invalid-yaml": invalid_yaml,
}


def broken_copy(source: Path, breaker: Breaker, directory: Path) -> tuple[Path, str]:
    lines = source.read_text().splitlines()
    expected = breaker(lines)
    path = directory / f"{breaker.__name__}-{source.name}"
    path.write_text("\n".join(lines) + "\n")
    return path, f"{path}:{expected}"


def test_every_committed_experiment_is_valid() -> None:
    result = chaos("validate", *(str(path) for path in EXPERIMENTS))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for path in EXPERIMENTS:
        assert f"{path}: ok (" in result.stdout


@pytest.mark.parametrize("kind", BREAKERS)
@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda path: path.stem)
def test_a_broken_experiment_is_reported_at_its_line(
    experiment: Path, kind: str, tmp_path: Path
) -> None:
    path, expected = broken_copy(experiment, BREAKERS[kind], tmp_path)
    result = chaos("validate", str(path))
    assert result.returncode == 2
    assert issue_lines(result.stderr) == [expected]
    assert "1 of 1 files invalid" in result.stderr
    assert result.stdout == ""


def test_every_problem_of_one_file_is_reported_at_once(tmp_path: Path) -> None:
    lines = EXPERIMENTS[0].read_text().splitlines()
    # each breaker sees the lines as the ones before it left them, so positions stay exact
    expected = [unknown_field_under_spec(lines), bad_duration(lines), undefined_target(lines)]
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(lines) + "\n")

    result = chaos("validate", str(path))
    assert result.returncode == 2
    assert issue_lines(result.stderr) == [f"{path}:{line}" for line in expected]


def test_several_broken_files_are_all_reported(tmp_path: Path) -> None:
    broken = [
        broken_copy(experiment, breaker, tmp_path)
        for experiment, breaker in zip(EXPERIMENTS, BREAKERS.values(), strict=False)
    ]
    good = EXPERIMENTS[0]
    result = chaos("validate", str(good), *(str(path) for path, _ in broken))
    assert result.returncode == 2
    assert issue_lines(result.stderr) == [expected for _, expected in broken]
    assert f"{len(broken)} of {len(broken) + 1} files invalid" in result.stderr
    assert f"{good}: ok (" in result.stdout  # the good file is still checked


def test_a_missing_file_is_invalid_and_named(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.yaml"
    result = chaos("validate", str(missing))
    assert result.returncode == 2
    assert f"{missing}:1:1: cannot read file: No such file or directory" in result.stderr


def test_hostile_files_are_each_refused_located_with_exit_2(tmp_path: Path) -> None:
    """Devices, FIFOs, alias bombs, custom tags, deep nesting, NUL and bad UTF-8, long
    names: one run of validate, every file a located line, exit 2, no traceback."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(
            f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    hostile = {
        "tag.yaml": b"apiVersion: !!python/object/apply:os.system [id]\n",
        "deep.yaml": b"spec: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "nul.yaml": b"apiVersion: chaos\x00v1\n",
        "latin1.yaml": b"kind: caf\xe9\n",
        "merge.yaml": b"base: &b {name: x}\nmetadata:\n  <<: *b\n",
        "recursive.yaml": b"spec: &s [*s]\n",
    }
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
    files = [
        fifo,
        bomb,
        Path("/dev/zero"),
        tmp_path / ("n" * 300),
        *map(tmp_path.joinpath, hostile),
    ]
    result = chaos("validate", *map(str, files), home=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == f"{len(files)} of {len(files)} files invalid"
    for path in files:
        assert any(line.startswith(f"{path}:") for line in issue_lines(result.stderr)), path
    assert f"{fifo}:1:1: cannot read file: {fifo} is a FIFO, not a regular file" in lines
    assert any(line.startswith(f"{bomb}:") and "aliases expand" in line for line in lines)
    assert f"{tmp_path}/latin1.yaml:1:10: the file is not UTF-8 text (invalid byte)" in lines


# ------------------------------------------------------------------ schema and help


def test_schema_covers_every_fault_and_matches_the_committed_file(tmp_path: Path) -> None:
    result = chaos("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    for name in CATALOG:
        assert f"{name}.params" in schema["$defs"], name
    assert schema["$defs"]["FaultStep"]["properties"]["fault"]["enum"] == sorted(CATALOG)

    committed = REPO / "experiments" / "schema.json"
    assert result.stdout == committed.read_text(), (
        "experiments/schema.json is stale: run `chaos schema -o experiments/schema.json`"
    )

    written = tmp_path / "schema.json"
    assert chaos("schema", "--output", str(written)).returncode == 0
    assert written.read_text() == result.stdout


def test_help_lists_the_commands() -> None:
    result = chaos("--help")
    assert result.returncode == 0
    for command in ("validate", "schema", "run", "runs", "lab"):
        assert re.search(rf"^\W*{command}\s", result.stdout, re.MULTILINE), command


# ------------------------------------------------------------------ refusing early


def test_showing_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    result = chaos("runs", "show", "nope", "--db", f"sqlite:///{tmp_path}/x.db", home=tmp_path)
    assert result.returncode == 2
    assert "no run store at " in result.stderr  # x.db does not exist: nothing to show
    assert "Traceback" not in result.stderr


def test_running_an_invalid_experiment_starts_nothing(tmp_path: Path) -> None:
    path, expected = broken_copy(EXPERIMENTS[0], unknown_field_under_spec, tmp_path)
    database = tmp_path / "store" / "runs.db"
    result = chaos("run", str(path), "--db", f"sqlite:///{database}", home=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr.splitlines()
    assert not database.exists()
    assert not database.parent.exists()
    assert not (tmp_path / "chaos").exists()  # nor the default store
