"""The base of every model of the VoxtralService API (`service.py`, `scaling.py`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base of every API model: camelCase field names, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )
    # CEL rules of this object, mirrored by its validators: (rule, message).
    cel_rules: ClassVar[tuple[tuple[str, str], ...]] = ()


class StatusModel(BaseModel):
    """Base of the status models: written by the operator, read back as they are."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
