from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Program")


@_attrs_define
class Program:
    """
    Attributes:
        baseline_revision (str):
        head_revision (str):
        metric (str):
        text (str):
        time_budget_s (float):
        track_id (str):
    """

    baseline_revision: str
    head_revision: str
    metric: str
    text: str
    time_budget_s: float
    track_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        baseline_revision = self.baseline_revision

        head_revision = self.head_revision

        metric = self.metric

        text = self.text

        time_budget_s = self.time_budget_s

        track_id = self.track_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "baseline_revision": baseline_revision,
                "head_revision": head_revision,
                "metric": metric,
                "text": text,
                "time_budget_s": time_budget_s,
                "track_id": track_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        baseline_revision = d.pop("baseline_revision")

        head_revision = d.pop("head_revision")

        metric = d.pop("metric")

        text = d.pop("text")

        time_budget_s = d.pop("time_budget_s")

        track_id = d.pop("track_id")

        program = cls(
            baseline_revision=baseline_revision,
            head_revision=head_revision,
            metric=metric,
            text=text,
            time_budget_s=time_budget_s,
            track_id=track_id,
        )

        program.additional_properties = d
        return program

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
