"""Property: whatever bytes an experiment or plan holds, loading it either succeeds or
raises one SpecError whose every line is ``file:line:col: message`` -- never another
exception, never a hang, never an interpolated value in a message.

The inputs are the shipped experiments and game-day plans, mutated: bytes flipped,
cut short, ranges dropped or doubled, and hostile snippets inserted (aliases, tags, deep
nesting, control characters, NUL, invalid UTF-8, huge numbers, merge keys, unhashable
keys). Derandomised, no example database: CI sees the same examples every time.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.loader import decode, load_gameday_text, load_text
from tests.support import chaos_env, run_chaos

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
PLANS = sorted((REPO / "experiments" / "gamedays").glob("*.yaml"))
SECRET = "fuzz-s3cret-7f1c"
VARIABLES = {"CHAOS_VAR_LAB_URL": f"http://127.0.0.1:18080/?t={SECRET}"}

HOSTILE = [
    b"&a [*a]",
    b"*undefined",
    b"!!python/object/apply:os.system [id]",
    b"!foo bar",
    b"!!binary aGVsbG8=",
    b"<<: {a: 1}",
    b"? {a: 1}\n: 2",
    b"? [a, b]\n: 2",
    b"[" * 200 + b"]" * 200,
    b"{a: " * 100 + b"1" + b"}" * 100,
    b"\x00",
    b"\x07\x1b",
    b"\xff\xfe\xc3",
    b"\xed\xa0\x80",  # a UTF-16 surrogate, invalid in UTF-8
    b"9" * 5000,
    b"1e99999",
    b"-.inf",
    b"2024-13-45",
    b"${HOME}",
    b"${CHAOS_VAR_LAB_URL}",
    b"${CHAOS_VAR_MISSING}",
    b"3000000h",
    b"count:999999999999999999999",
    b"%YAML 1.1\n---\n",
    b"\n---\n",
    b"\t",
    b"'unterminated",
    b'"\\x',
    b"a: &x [1]\nb: *x",
    b"99999999999999999999999",
    b"-1",
    b".nan",
    b"[]",
    b"{}",
    b"null",
    b"~",
    b"true",
    b"x" * 3000,
    b'"\\u0000"',
    b"999999999h",
    b"1e308GiB",
    b"percent:100000",
    b'"> 1e999"',
    b"l: &l [x,x,x,x,x,x,x,x,x]\nm: &m [*l,*l,*l,*l,*l,*l,*l,*l,*l]\n"
    b"n: [*m,*m,*m,*m,*m,*m,*m,*m,*m]",
]


KINDS = ["flip", "cut", "drop", "double", "insert", "insert_line", "value", "value"]


def _mutations() -> st.SearchStrategy[list[tuple[str, int, int, bytes]]]:
    op = st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=0, max_value=1 << 16),
        st.integers(min_value=0, max_value=255),
        st.sampled_from(HOSTILE),
    )
    return st.lists(op, min_size=1, max_size=4)


def mutate(raw: bytes, operations: list[tuple[str, int, int, bytes]]) -> bytes:
    data = bytearray(raw)
    for kind, where, byte, snippet in operations:
        at = where % (len(data) + 1)
        if kind == "flip" and data:
            data[at % len(data)] = byte
        elif kind == "cut":
            del data[at:]
        elif kind == "drop":
            del data[at : at + 1 + byte % 40]
        elif kind == "double":
            data[at:at] = data[at : at + 1 + byte]
        elif kind == "insert":
            data[at:at] = snippet
        elif kind == "value":  # the value after a key: a well-formed file, hostile content
            colon = data.find(b": ", at)
            colon = colon if colon >= 0 else data.find(b": ")
            if colon >= 0:
                end = data.find(b"\n", colon)
                data[colon + 2 : end if end >= 0 else len(data)] = snippet
        else:  # at the start of a line, so the snippet is its own YAML construct
            line = data.rfind(b"\n", 0, at) + 1
            data[line:line] = snippet + b"\n"
    return bytes(data)


def assert_located(file: str, load) -> None:
    try:
        load()
    except SpecError as exc:
        lines = str(exc).splitlines()
        assert lines, "a SpecError with no problem in it"
        for line in lines:
            # a plan's errors may point into the experiments it names
            assert re.match(r"^[^\n]+:\d+:\d+: \S", line), line
        assert any(line.startswith(f"{file}:") for line in lines) or "experiment" in str(exc)
        assert SECRET not in str(exc)


FUZZ = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(source=st.sampled_from(EXPERIMENTS), operations=_mutations())
def test_mutated_experiments_load_or_fail_located(source: Path, operations):
    raw = mutate(source.read_bytes(), operations)
    file = f"fuzz/{source.name}"

    def load():
        text = decode(raw, file=file)
        load_text(text, file=file, catalog=CATALOG, variables=VARIABLES)

    assert_located(file, load)


@settings(FUZZ, max_examples=120)
@given(source=st.sampled_from(PLANS), operations=_mutations())
def test_mutated_plans_load_or_fail_located(source: Path, operations):
    raw = mutate(source.read_bytes(), operations)
    file = f"fuzz/{source.name}"

    def load():
        text = decode(raw, file=file)
        load_gameday_text(text, file=file, base=source.parent, catalog=CATALOG, variables=VARIABLES)

    assert_located(file, load)


@pytest.mark.parametrize("snippet", HOSTILE, ids=range(len(HOSTILE)))
def test_each_hostile_snippet_in_each_place(snippet: bytes):
    """Every snippet as a whole value, a key and a line of the first experiment."""
    raw = EXPERIMENTS[0].read_bytes()
    for where in (b"name: ", b"spec:\n", b"  method:\n"):
        at = raw.index(where) + len(where)
        for variant in (raw[:at] + snippet + raw[at:], raw[:at] + snippet + b": x\n" + raw[at:]):

            def load(data: bytes = variant) -> None:
                load_text(decode(data, file="h.yaml"), file="h.yaml", catalog=CATALOG)

            assert_located("h.yaml", load)


def test_the_cli_exits_0_or_2_and_never_prints_a_traceback(tmp_path: Path):
    """A handful of mutated files through ``chaos validate`` in a subprocess."""
    rng = random.Random(13)
    files = []
    for index in range(24):
        source = rng.choice(EXPERIMENTS)
        operations = [
            (
                rng.choice(KINDS),
                rng.randrange(1 << 16),
                rng.randrange(256),
                rng.choice(HOSTILE),
            )
            for _ in range(rng.randint(1, 3))
        ]
        path = tmp_path / f"m{index}-{source.name}"
        path.write_bytes(mutate(source.read_bytes(), operations))
        files.append(str(path))
    env = chaos_env(CHAOS_VAR_LAB_URL=VARIABLES["CHAOS_VAR_LAB_URL"])
    for command in (["validate", *files], ["validate", *map(str, EXPERIMENTS)]):
        result = run_chaos(*command, env=env, timeout=120)
        assert result.returncode in (0, 2), result.stderr[-2000:]
        assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout
        for line in result.stderr.splitlines()[:-1]:  # the last one counts invalid files
            assert re.match(r"^[^\n]+:\d+:\d+: ", line), line
    plans = run_chaos("gameday", "validate", *map(str, PLANS), "/dev/zero", env=env)
    assert plans.returncode == 2 and "Traceback" not in plans.stderr
    assert "/dev/zero:1:1: cannot read file: /dev/zero is a character device" in plans.stderr
