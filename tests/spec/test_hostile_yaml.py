"""Hostile YAML is refused at once with file:line:col, never a traceback or a hang."""

from __future__ import annotations

import re
import time

import pytest

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.limits import MAX_YAML_DEPTH
from chaos.spec.loader import load_gameday_text, load_text

# the classic "billion laughs": nine levels of nine aliases, 10^9 strings once expanded
BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "apiVersion: chaos/v1\n"
)


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def composer(request, monkeypatch):
    """Every test runs on both composers: libyaml's (the usual) and PyYAML's own."""
    from chaos.spec import yamltree

    if request.param == "libyaml" and not yamltree._LIBYAML:
        pytest.skip("PyYAML without libyaml here")
    monkeypatch.setattr(yamltree, "_LIBYAML", request.param == "libyaml")
    return request.param


def refused(text: str, file: str = "x.yaml") -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_text(text, file=file, catalog=CATALOG)
    found = [str(issue) for issue in caught.value.issues]
    assert found and all(re.match(rf"^{re.escape(file)}:\d+:\d+: ", line) for line in found)
    return found


def test_the_alias_bomb_is_refused_in_milliseconds_with_its_position():
    assert len(BOMB.encode()) < 400
    began = time.perf_counter()
    found = refused(BOMB)
    assert time.perf_counter() - began < 0.5
    assert len(found) == 1
    assert re.match(r"^x\.yaml:\d+:\d+: aliases expand this document past 20000 nodes", found[0])


def test_a_recursive_alias_is_located():
    assert refused("spec: &a [*a]\n") == ["x.yaml:1:7: a recursive alias (it contains itself)"]
    assert "recursive alias" in refused("spec: &a {x: *a}\n")[0]


def test_deep_nesting_stops_at_the_depth_cap():
    deep = "spec: " + "[" * 10_000 + "]" * 10_000 + "\n"
    found = refused(deep)  # libyaml's own guard may speak first on flow collections
    assert re.match(
        r"^x\.yaml:1:\d+: invalid YAML: (nested more|exceeded maximum nesting)", found[0]
    )
    block = "".join(f"{' ' * level}k{level}:\n" for level in range(MAX_YAML_DEPTH + 5))
    found = refused(block + " " * (MAX_YAML_DEPTH + 5) + "end: 1\n")
    assert found == [f"x.yaml:65:65: invalid YAML: nested more than {MAX_YAML_DEPTH} levels deep"]


@pytest.mark.parametrize(
    ("text", "where", "tag"),
    [
        ("spec: !!python/object/apply:os.system [id]\n", "1:7", "python/object/apply"),
        ("spec:\n  x: !foo 1\n", "2:6", "!foo"),
        ("spec: !!binary aGk=\n", "1:7", "binary"),
        ("spec: !!set {a, b}\n", "1:7", "set"),
    ],
)
def test_tags_outside_the_core_schema_are_refused_where_they_are(text, where, tag):
    found = refused(text)
    assert found[0].startswith(f"x.yaml:{where}: invalid YAML: tag ")
    assert tag in found[0] and "is not allowed" in found[0]


def test_core_schema_tags_are_fine():
    with pytest.raises(SpecError) as caught:
        load_text(
            "apiVersion: !!str chaos/v1\nkind: !!str Experiment\n", file="x.yaml", catalog=CATALOG
        )
    assert "tag" not in str(caught.value)  # only the missing fields


def test_merge_keys_are_refused_with_their_position():
    found = refused("base: &b {name: x}\nmetadata:\n  <<: *b\n")
    assert "x.yaml:3:3: metadata: merge keys (<<) are not supported" in found[0]


@pytest.mark.parametrize(("key", "kind"), [("{a: 1}", "mapping"), ("[a, b]", "list")])
def test_unhashable_keys_are_located(key, kind):
    found = refused(f"metadata:\n  ? {key}\n  : 1\n")
    assert found == [f"x.yaml:2:5: metadata: a key must be a plain value, not a {kind}"]


def test_duplicate_keys_are_refused():
    assert "metadata.name: duplicate key" in refused("metadata: {name: a, name: b}\n")[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: a\x00b\n", "x.yaml:1:8: a NUL byte is not allowed in YAML"),
        ("kind: a\x07b\n", "x.yaml:1:8: control character U+0007 is not allowed in YAML"),
        ("a: 1\nkind: a\x1bb\n", "x.yaml:2:8: control character U+001B is not allowed in YAML"),
    ],
)
def test_control_characters_are_located(text, expected):
    assert refused(text) == [expected]


def test_values_no_constructor_accepts_are_located():
    assert refused("kind: 2024-13-45\n") == [
        "x.yaml:1:7: kind: invalid value: month must be in 1..12"
    ]
    found = refused("kind: " + "9" * 6000 + "\n")
    assert found == ["x.yaml:1:7: kind: invalid value: a number with too many digits"]


def test_syntax_errors_and_several_documents_are_located():
    assert refused("a: [1, 2\n")[0].startswith("x.yaml:2:1: invalid YAML")
    assert refused("a: 1\n---\nb: 2\n")[0].startswith("x.yaml:2:1: invalid YAML")
    assert refused("a: *nowhere\n")[0].startswith("x.yaml:1:4: invalid YAML: found undefined alias")


def test_a_text_over_the_size_cap_is_refused():
    found = refused("a: " + "x" * (1 << 20) + "\n")
    assert found == ["x.yaml:1:1: the document is larger than the 1 MiB limit"]


def test_game_day_plans_get_the_same_bounds(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_gameday_text(BOMB, file="plan.yaml", base=tmp_path, catalog=CATALOG)
    assert "aliases expand this document" in str(caught.value)
    with pytest.raises(SpecError) as caught:
        load_gameday_text(
            "spec: !!python/name:os.system x\n", file="p.yaml", base=tmp_path, catalog=CATALOG
        )
    assert str(caught.value).startswith("p.yaml:1:7: invalid YAML: tag")
