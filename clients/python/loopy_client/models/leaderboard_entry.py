from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="LeaderboardEntry")


@_attrs_define
class LeaderboardEntry:
    """
    Attributes:
        author_agent_id (str):
        best_run_id (str):
        best_value (float):
        description (str):
        is_head (bool):
        mean_value (float):
        rank (int):
        revision_id (str):
        runs (int):
        kept (bool | Unset):  Default: False.
        sandbox (str | Unset):  Default: ''.
    """

    author_agent_id: str
    best_run_id: str
    best_value: float
    description: str
    is_head: bool
    mean_value: float
    rank: int
    revision_id: str
    runs: int
    kept: bool | Unset = False
    sandbox: str | Unset = ""
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        author_agent_id = self.author_agent_id

        best_run_id = self.best_run_id

        best_value = self.best_value

        description = self.description

        is_head = self.is_head

        mean_value = self.mean_value

        rank = self.rank

        revision_id = self.revision_id

        runs = self.runs

        kept = self.kept

        sandbox = self.sandbox

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "author_agent_id": author_agent_id,
                "best_run_id": best_run_id,
                "best_value": best_value,
                "description": description,
                "is_head": is_head,
                "mean_value": mean_value,
                "rank": rank,
                "revision_id": revision_id,
                "runs": runs,
            }
        )
        if kept is not UNSET:
            field_dict["kept"] = kept
        if sandbox is not UNSET:
            field_dict["sandbox"] = sandbox

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        author_agent_id = d.pop("author_agent_id")

        best_run_id = d.pop("best_run_id")

        best_value = d.pop("best_value")

        description = d.pop("description")

        is_head = d.pop("is_head")

        mean_value = d.pop("mean_value")

        rank = d.pop("rank")

        revision_id = d.pop("revision_id")

        runs = d.pop("runs")

        kept = d.pop("kept", UNSET)

        sandbox = d.pop("sandbox", UNSET)

        leaderboard_entry = cls(
            author_agent_id=author_agent_id,
            best_run_id=best_run_id,
            best_value=best_value,
            description=description,
            is_head=is_head,
            mean_value=mean_value,
            rank=rank,
            revision_id=revision_id,
            runs=runs,
            kept=kept,
            sandbox=sandbox,
        )

        leaderboard_entry.additional_properties = d
        return leaderboard_entry

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
