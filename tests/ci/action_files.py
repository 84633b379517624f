"""The runner's file commands and the emulated ``actions/upload-artifact@v4`` step."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

_GLOB = set("*?[")


class ActionError(Exception):
    """The action is invalid, or uses something this stand-in does not model."""


def parse_file_commands(text: str) -> dict[str, str]:
    """``GITHUB_OUTPUT`` / ``GITHUB_ENV`` syntax: ``name=value`` lines and
    ``name<<DELIMITER`` ... ``DELIMITER`` blocks for values with newlines."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                body.append(body_line)
            else:
                raise ActionError(f"file command {name}: delimiter {delimiter!r} never closed")
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise ActionError(f"invalid file command line {line!r}")
    return values


def upload_artifact(
    with_: Mapping[str, str], *, workspace: Path, artifacts: Path
) -> tuple[int, str]:
    """Copy ``with_["path"]`` into ``artifacts/<name>/`` as upload-artifact@v4 would lay
    the artifact out; (exit code, log text)."""
    name = with_.get("name") or "artifact"
    raw_paths = [line.strip() for line in with_["path"].splitlines() if line.strip()]
    if any(_GLOB & set(path) or path.startswith("!") for path in raw_paths):
        raise ActionError(f"upload-artifact: glob patterns are not modelled: {raw_paths}")
    paths = [(workspace / path).resolve() for path in raw_paths]
    hidden = with_.get("include-hidden-files", "false").lower() == "true"
    files = [file for path in paths for file in _files(path, include_hidden=hidden)]
    if not files:
        message = f"No files were found with the provided path: {with_['path']}."
        mode = with_.get("if-no-files-found", "warn")
        if mode == "error":
            return 1, f"::error::{message} No artifacts will be uploaded.\n"
        if mode == "warn":
            return 0, f"::warning::{message} No artifacts will be uploaded.\n"
        return 0, f"{message}\n"
    target = artifacts / name
    if target.exists() and with_.get("overwrite", "false").lower() != "true":
        return 1, f"::error::an artifact with the name {name!r} already exists (409 Conflict)\n"
    shutil.rmtree(target, ignore_errors=True)
    root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in paths]))
    for file in files:
        destination = target / file.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination)
    return 0, f"Artifact {name} has {len(files)} file(s): uploaded\n"


def _files(path: Path, *, include_hidden: bool) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    found = []
    for file in sorted(path.rglob("*")):
        parts = file.relative_to(path).parts
        if file.is_file() and (include_hidden or not any(p.startswith(".") for p in parts)):
            found.append(file)
    return found
