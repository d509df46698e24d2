from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="DiffStats")


@_attrs_define
class DiffStats:
    """
    Attributes:
        lines_added (int):
        lines_removed (int):
    """

    lines_added: int
    lines_removed: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        lines_added = self.lines_added

        lines_removed = self.lines_removed

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "lines_added": lines_added,
                "lines_removed": lines_removed,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        lines_added = d.pop("lines_added")

        lines_removed = d.pop("lines_removed")

        diff_stats = cls(
            lines_added=lines_added,
            lines_removed=lines_removed,
        )

        diff_stats.additional_properties = d
        return diff_stats

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
