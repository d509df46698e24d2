from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="HeadChange")


@_attrs_define
class HeadChange:
    """
    Attributes:
        agent_id (str):
        evaluation_id (None | str):
        forced (bool):
        from_revision (None | str):
        head_version (int):
        id (str):
        reason (str):
        run_id (None | str):
        time (datetime.datetime):
        to_revision (str):
        track_id (str):
    """

    agent_id: str
    evaluation_id: None | str
    forced: bool
    from_revision: None | str
    head_version: int
    id: str
    reason: str
    run_id: None | str
    time: datetime.datetime
    to_revision: str
    track_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agent_id = self.agent_id

        evaluation_id: None | str
        evaluation_id = self.evaluation_id

        forced = self.forced

        from_revision: None | str
        from_revision = self.from_revision

        head_version = self.head_version

        id = self.id

        reason = self.reason

        run_id: None | str
        run_id = self.run_id

        time = self.time.isoformat()

        to_revision = self.to_revision

        track_id = self.track_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent_id": agent_id,
                "evaluation_id": evaluation_id,
                "forced": forced,
                "from_revision": from_revision,
                "head_version": head_version,
                "id": id,
                "reason": reason,
                "run_id": run_id,
                "time": time,
                "to_revision": to_revision,
                "track_id": track_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        agent_id = d.pop("agent_id")

        def _parse_evaluation_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        evaluation_id = _parse_evaluation_id(d.pop("evaluation_id"))

        forced = d.pop("forced")

        def _parse_from_revision(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        from_revision = _parse_from_revision(d.pop("from_revision"))

        head_version = d.pop("head_version")

        id = d.pop("id")

        reason = d.pop("reason")

        def _parse_run_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        run_id = _parse_run_id(d.pop("run_id"))

        time = datetime.datetime.fromisoformat(d.pop("time"))

        to_revision = d.pop("to_revision")

        track_id = d.pop("track_id")

        head_change = cls(
            agent_id=agent_id,
            evaluation_id=evaluation_id,
            forced=forced,
            from_revision=from_revision,
            head_version=head_version,
            id=id,
            reason=reason,
            run_id=run_id,
            time=time,
            to_revision=to_revision,
            track_id=track_id,
        )

        head_change.additional_properties = d
        return head_change

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
