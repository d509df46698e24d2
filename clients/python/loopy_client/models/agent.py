from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.role import Role
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.agent_quota import AgentQuota


T = TypeVar("T", bound="Agent")


@_attrs_define
class Agent:
    """
    Attributes:
        create_time (datetime.datetime):
        id (str):
        name (str):
        quota (AgentQuota):
        role (Role):
        compute_seconds_used (float | Unset):  Default: 0.0.
    """

    create_time: datetime.datetime
    id: str
    name: str
    quota: AgentQuota
    role: Role
    compute_seconds_used: float | Unset = 0.0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        create_time = self.create_time.isoformat()

        id = self.id

        name = self.name

        quota = self.quota.to_dict()

        role = self.role.value

        compute_seconds_used = self.compute_seconds_used

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "create_time": create_time,
                "id": id,
                "name": name,
                "quota": quota,
                "role": role,
            }
        )
        if compute_seconds_used is not UNSET:
            field_dict["compute_seconds_used"] = compute_seconds_used

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.agent_quota import AgentQuota

        d = dict(src_dict)
        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        id = d.pop("id")

        name = d.pop("name")

        quota = AgentQuota.from_dict(d.pop("quota"))

        role = Role(d.pop("role"))

        compute_seconds_used = d.pop("compute_seconds_used", UNSET)

        agent = cls(
            create_time=create_time,
            id=id,
            name=name,
            quota=quota,
            role=role,
            compute_seconds_used=compute_seconds_used,
        )

        agent.additional_properties = d
        return agent

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
