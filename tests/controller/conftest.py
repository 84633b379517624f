"""Fixtures for whole runs in this process (see ``tests.controller.runs``)."""

from tests.controller.runs import api_process, homepage, killable_agent

__all__ = ["api_process", "homepage", "killable_agent"]
