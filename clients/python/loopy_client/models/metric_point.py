from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="MetricPoint")


@_attrs_define
class MetricPoint:
    """
    Attributes:
        name (str):
        step (int):
        value (float):
        wall_seconds (float):
    """

    name: str
    step: int
    value: float
    wall_seconds: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        step = self.step

        value = self.value

        wall_seconds = self.wall_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "step": step,
                "value": value,
                "wall_seconds": wall_seconds,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        name = d.pop("name")

        step = d.pop("step")

        value = d.pop("value")

        wall_seconds = d.pop("wall_seconds")

        metric_point = cls(
            name=name,
            step=step,
            value=value,
            wall_seconds=wall_seconds,
        )

        metric_point.additional_properties = d
        return metric_point

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
