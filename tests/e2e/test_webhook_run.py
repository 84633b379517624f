"""``chaos run --webhook`` against the real lab: the start and the verdict reach a real
endpoint; a webhook that hangs neither delays the revert nor holds the exit for long."""

from __future__ import annotations

import time

import pytest

from tests.controller.test_webhooks import SECRET_PATH, Hanging, Receiver
from tests.e2e.conftest import EXPERIMENTS, Lab

pytestmark = pytest.mark.slow


def test_start_and_verdict_are_posted(resilient_lab: Lab):
    receiver = Receiver()
    try:
        result = resilient_lab.chaos(
            "run",
            str(EXPERIMENTS / "lab-api-kill.yaml"),
            "--lab",
            resilient_lab.state.lab_id,
            "--webhook",
            receiver.url,
        )
    finally:
        receiver.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    texts = [body["text"] for body in receiver.bodies]
    assert len(texts) == 2, texts
    assert "lab-api-kill" in texts[0] and "passed" in texts[1].lower()
    assert SECRET_PATH not in result.stdout + result.stderr  # the URL is a secret


def test_a_hanging_webhook_does_not_hold_the_run(resilient_lab: Lab):
    hanging = Hanging()
    started = time.monotonic()
    try:
        result = resilient_lab.chaos(
            "run",
            str(EXPERIMENTS / "lab-api-kill.yaml"),
            "--lab",
            resilient_lab.state.lab_id,
            "--webhook",
            hanging.url,
        )
    finally:
        hanging.stop()
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    # the run itself takes ~15 s; the notifier's close waits 5 s at most on top
    assert elapsed < 40, elapsed
    assert SECRET_PATH not in result.stdout + result.stderr
