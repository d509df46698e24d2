from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="EvaluateRequest")


@_attrs_define
class EvaluateRequest:
    """
    Attributes:
        max_pairs (int | None | Unset):
        reference_run_id (None | str | Unset):
        replicates (int | None | Unset):
        request_id (None | str | Unset):
    """

    max_pairs: int | None | Unset = UNSET
    reference_run_id: None | str | Unset = UNSET
    replicates: int | None | Unset = UNSET
    request_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        max_pairs: int | None | Unset
        if isinstance(self.max_pairs, Unset):
            max_pairs = UNSET
        else:
            max_pairs = self.max_pairs

        reference_run_id: None | str | Unset
        if isinstance(self.reference_run_id, Unset):
            reference_run_id = UNSET
        else:
            reference_run_id = self.reference_run_id

        replicates: int | None | Unset
        if isinstance(self.replicates, Unset):
            replicates = UNSET
        else:
            replicates = self.replicates

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if max_pairs is not UNSET:
            field_dict["max_pairs"] = max_pairs
        if reference_run_id is not UNSET:
            field_dict["reference_run_id"] = reference_run_id
        if replicates is not UNSET:
            field_dict["replicates"] = replicates
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_max_pairs(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_pairs = _parse_max_pairs(d.pop("max_pairs", UNSET))

        def _parse_reference_run_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reference_run_id = _parse_reference_run_id(d.pop("reference_run_id", UNSET))

        def _parse_replicates(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        replicates = _parse_replicates(d.pop("replicates", UNSET))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        evaluate_request = cls(
            max_pairs=max_pairs,
            reference_run_id=reference_run_id,
            replicates=replicates,
            request_id=request_id,
        )

        evaluate_request.additional_properties = d
        return evaluate_request

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
