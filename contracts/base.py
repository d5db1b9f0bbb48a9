"""The base of every wire model: strict, closed and immutable."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """No coercion (50.5 or "50" is not an amount), no unknown fields, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, serialize_by_alias=True)
