from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.head_change import HeadChange


T = TypeVar("T", bound="ListHeadChangesResponse")


@_attrs_define
class ListHeadChangesResponse:
    """
    Attributes:
        head_changes (list[HeadChange]):
        next_page_token (str):
    """

    head_changes: list[HeadChange]
    next_page_token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        head_changes = []
        for head_changes_item_data in self.head_changes:
            head_changes_item = head_changes_item_data.to_dict()
            head_changes.append(head_changes_item)

        next_page_token = self.next_page_token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "head_changes": head_changes,
                "next_page_token": next_page_token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.head_change import HeadChange

        d = dict(src_dict)
        head_changes = []
        _head_changes = d.pop("head_changes")
        for head_changes_item_data in _head_changes:
            head_changes_item = HeadChange.from_dict(head_changes_item_data)

            head_changes.append(head_changes_item)

        next_page_token = d.pop("next_page_token")

        list_head_changes_response = cls(
            head_changes=head_changes,
            next_page_token=next_page_token,
        )

        list_head_changes_response.additional_properties = d
        return list_head_changes_response

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
