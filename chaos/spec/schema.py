"""JSON Schema of the experiment format, with each fault's params schema attached."""

from __future__ import annotations

from typing import Any

from chaos.spec.loader import FaultCatalog
from chaos.spec.models import Experiment

SCHEMA_ID = "https://chaos-platform.dev/schema/experiment-v1.json"


def experiment_schema(catalog: FaultCatalog) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``chaos/v1`` experiments."""
    schema = Experiment.model_json_schema(by_alias=True, mode="validation")
    defs = schema.setdefault("$defs", {})
    fault_step = defs["FaultStep"]
    fault_step["properties"]["fault"] = {"enum": sorted(catalog), "description": "Fault name"}
    fault_step["properties"]["params"] = {"type": "object", "description": "Depends on fault"}
    rules = []
    for name in sorted(catalog):
        params_schema = catalog[name].params.model_json_schema(by_alias=True)
        for key, value in params_schema.pop("$defs", {}).items():
            defs.setdefault(key, value)
        title = f"{name}.params"
        defs[title] = params_schema
        then: dict[str, Any] = {"properties": {"params": {"$ref": f"#/$defs/{title}"}}}
        if catalog[name].reversible:
            then["required"] = ["duration"]
        rules.append({"if": {"properties": {"fault": {"const": name}}}, "then": then})
    fault_step["allOf"] = rules
    _drop_numeric_bounds_on_strings(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def _drop_numeric_bounds_on_strings(node: Any) -> None:
    """Durations are strings in YAML; their numeric bounds are checked by the loader."""
    if isinstance(node, dict):
        if node.get("type") == "string":
            for key in ("ge", "gt", "le", "lt", "minimum", "maximum"):
                node.pop(key, None)
        for value in node.values():
            _drop_numeric_bounds_on_strings(value)
    elif isinstance(node, list):
        for value in node:
            _drop_numeric_bounds_on_strings(value)
