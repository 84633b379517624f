"""Every complete experiment shown in the README and docs validates: docs never drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaos.faults import CATALOG
from chaos.spec.loader import load_text

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for index, block in enumerate(BLOCK.findall(path.read_text())):
            if block.startswith("apiVersion: chaos/v1") and "{...}" not in block:
                found.append((f"{path.name}#{index}", block))
    return found


def test_the_docs_show_complete_examples():
    assert any(name.startswith("README.md") for name, _ in examples())


@pytest.mark.parametrize(("name", "text"), examples(), ids=[name for name, _ in examples()])
def test_example_validates(name, text):
    load_text(text, file=name, catalog=CATALOG)


def test_every_fault_is_documented():
    faults_doc = (REPO / "docs" / "faults.md").read_text()
    for fault in CATALOG:
        assert f"## `{fault}`" in faults_doc
