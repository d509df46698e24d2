from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="OverheadBreakdown")


@_attrs_define
class OverheadBreakdown:
    """
    Attributes:
        eval_seconds (float | Unset):  Default: 0.0.
        queue_wait_seconds (float | Unset):  Default: 0.0.
        startup_seconds (float | Unset):  Default: 0.0.
        training_seconds (float | Unset):  Default: 0.0.
        upload_seconds (float | Unset):  Default: 0.0.
    """

    eval_seconds: float | Unset = 0.0
    queue_wait_seconds: float | Unset = 0.0
    startup_seconds: float | Unset = 0.0
    training_seconds: float | Unset = 0.0
    upload_seconds: float | Unset = 0.0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        eval_seconds = self.eval_seconds

        queue_wait_seconds = self.queue_wait_seconds

        startup_seconds = self.startup_seconds

        training_seconds = self.training_seconds

        upload_seconds = self.upload_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if eval_seconds is not UNSET:
            field_dict["eval_seconds"] = eval_seconds
        if queue_wait_seconds is not UNSET:
            field_dict["queue_wait_seconds"] = queue_wait_seconds
        if startup_seconds is not UNSET:
            field_dict["startup_seconds"] = startup_seconds
        if training_seconds is not UNSET:
            field_dict["training_seconds"] = training_seconds
        if upload_seconds is not UNSET:
            field_dict["upload_seconds"] = upload_seconds

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        eval_seconds = d.pop("eval_seconds", UNSET)

        queue_wait_seconds = d.pop("queue_wait_seconds", UNSET)

        startup_seconds = d.pop("startup_seconds", UNSET)

        training_seconds = d.pop("training_seconds", UNSET)

        upload_seconds = d.pop("upload_seconds", UNSET)

        overhead_breakdown = cls(
            eval_seconds=eval_seconds,
            queue_wait_seconds=queue_wait_seconds,
            startup_seconds=startup_seconds,
            training_seconds=training_seconds,
            upload_seconds=upload_seconds,
        )

        overhead_breakdown.additional_properties = d
        return overhead_breakdown

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
