from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.metric_point import MetricPoint


T = TypeVar("T", bound="MetricSeries")


@_attrs_define
class MetricSeries:
    """
    Attributes:
        next_since_step (int | None):
        points (list[MetricPoint]):
        run_id (str):
    """

    next_since_step: int | None
    points: list[MetricPoint]
    run_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        next_since_step: int | None
        next_since_step = self.next_since_step

        points = []
        for points_item_data in self.points:
            points_item = points_item_data.to_dict()
            points.append(points_item)

        run_id = self.run_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "next_since_step": next_since_step,
                "points": points,
                "run_id": run_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metric_point import MetricPoint

        d = dict(src_dict)

        def _parse_next_since_step(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        next_since_step = _parse_next_since_step(d.pop("next_since_step"))

        points = []
        _points = d.pop("points")
        for points_item_data in _points:
            points_item = MetricPoint.from_dict(points_item_data)

            points.append(points_item)

        run_id = d.pop("run_id")

        metric_series = cls(
            next_since_step=next_since_step,
            points=points,
            run_id=run_id,
        )

        metric_series.additional_properties = d
        return metric_series

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
