from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="SampleStats")


@_attrs_define
class SampleStats:
    """
    Attributes:
        mean (float | None):
        n (int):
        revision_id (str):
        run_ids (list[str]):
        std (float | None):
        values (list[float]):
    """

    mean: float | None
    n: int
    revision_id: str
    run_ids: list[str]
    std: float | None
    values: list[float]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        mean: float | None
        mean = self.mean

        n = self.n

        revision_id = self.revision_id

        run_ids = self.run_ids

        std: float | None
        std = self.std

        values = self.values

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "mean": mean,
                "n": n,
                "revision_id": revision_id,
                "run_ids": run_ids,
                "std": std,
                "values": values,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_mean(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        mean = _parse_mean(d.pop("mean"))

        n = d.pop("n")

        revision_id = d.pop("revision_id")

        run_ids = cast(list[str], d.pop("run_ids"))

        def _parse_std(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        std = _parse_std(d.pop("std"))

        values = cast(list[float], d.pop("values"))

        sample_stats = cls(
            mean=mean,
            n=n,
            revision_id=revision_id,
            run_ids=run_ids,
            std=std,
            values=values,
        )

        sample_stats.additional_properties = d
        return sample_stats

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
