from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AgentQuota")


@_attrs_define
class AgentQuota:
    """
    Attributes:
        max_compute_seconds (float | Unset):  Default: 86400.0.
        max_queued_runs (int | Unset):  Default: 8.
    """

    max_compute_seconds: float | Unset = 86400.0
    max_queued_runs: int | Unset = 8
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        max_compute_seconds = self.max_compute_seconds

        max_queued_runs = self.max_queued_runs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if max_compute_seconds is not UNSET:
            field_dict["max_compute_seconds"] = max_compute_seconds
        if max_queued_runs is not UNSET:
            field_dict["max_queued_runs"] = max_queued_runs

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        max_compute_seconds = d.pop("max_compute_seconds", UNSET)

        max_queued_runs = d.pop("max_queued_runs", UNSET)

        agent_quota = cls(
            max_compute_seconds=max_compute_seconds,
            max_queued_runs=max_queued_runs,
        )

        agent_quota.additional_properties = d
        return agent_quota

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
