from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.harness import Harness


T = TypeVar("T", bound="ListHarnessesResponse")


@_attrs_define
class ListHarnessesResponse:
    """
    Attributes:
        harnesses (list[Harness]):
        next_page_token (str):
    """

    harnesses: list[Harness]
    next_page_token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        harnesses = []
        for harnesses_item_data in self.harnesses:
            harnesses_item = harnesses_item_data.to_dict()
            harnesses.append(harnesses_item)

        next_page_token = self.next_page_token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "harnesses": harnesses,
                "next_page_token": next_page_token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.harness import Harness

        d = dict(src_dict)
        harnesses = []
        _harnesses = d.pop("harnesses")
        for harnesses_item_data in _harnesses:
            harnesses_item = Harness.from_dict(harnesses_item_data)

            harnesses.append(harnesses_item)

        next_page_token = d.pop("next_page_token")

        list_harnesses_response = cls(
            harnesses=harnesses,
            next_page_token=next_page_token,
        )

        list_harnesses_response.additional_properties = d
        return list_harnesses_response

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
