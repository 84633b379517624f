"""Shared building blocks of the experiment models: the base model, patterns and codes.

Every experiment model derives from :class:`Model`; every fault's parameter model
derives from :class:`FaultParams` (the fault catalogue lives in a layer above).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
URL_PATTERN = r"^https?://"


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, int) and not isinstance(value, bool) else value


Codes = Annotated[
    tuple[int, ...],
    BeforeValidator(_one_or_many),
    WithJsonSchema(
        {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    ),
]
"""Status or exit codes: one (``200``) or a list (``[200, 204]``)."""


class Model(BaseModel):
    """Base of every experiment model: frozen, strict about unknown fields, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        arbitrary_types_allowed=True,
    )


class FaultParams(Model):
    """Base of every fault's parameter model (each fault module subclasses it)."""

    def target_refs(self) -> dict[str, list[str]]:
        """Parameters that name other targets of the experiment, by field name.

        The loader checks that each named target exists; planning resolves them.
        """
        return {}
