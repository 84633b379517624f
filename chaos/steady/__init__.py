"""Steady state: probes, per-phase hypothesis, recovery and stop conditions."""
