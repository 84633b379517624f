"""Experiment format: frozen models, units and the located YAML loader."""
