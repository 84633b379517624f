"""Chaos platform: declarative chaos experiments with steady-state checks and safe reverts."""

__version__ = "0.1.0"
