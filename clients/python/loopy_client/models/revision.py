from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.diff_stats import DiffStats


T = TypeVar("T", bound="Revision")


@_attrs_define
class Revision:
    """
    Attributes:
        author_agent_id (str):
        create_time (datetime.datetime):
        description (str):
        diff_to_parent (str):
        id (str):
        parent_id (None | str):
        rebased (bool):
        source (str):
        stats (DiffStats):
        track_id (str):
        ast_hash (str | Unset):  Default: ''.
    """

    author_agent_id: str
    create_time: datetime.datetime
    description: str
    diff_to_parent: str
    id: str
    parent_id: None | str
    rebased: bool
    source: str
    stats: DiffStats
    track_id: str
    ast_hash: str | Unset = ""
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        author_agent_id = self.author_agent_id

        create_time = self.create_time.isoformat()

        description = self.description

        diff_to_parent = self.diff_to_parent

        id = self.id

        parent_id: None | str
        parent_id = self.parent_id

        rebased = self.rebased

        source = self.source

        stats = self.stats.to_dict()

        track_id = self.track_id

        ast_hash = self.ast_hash

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "author_agent_id": author_agent_id,
                "create_time": create_time,
                "description": description,
                "diff_to_parent": diff_to_parent,
                "id": id,
                "parent_id": parent_id,
                "rebased": rebased,
                "source": source,
                "stats": stats,
                "track_id": track_id,
            }
        )
        if ast_hash is not UNSET:
            field_dict["ast_hash"] = ast_hash

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.diff_stats import DiffStats

        d = dict(src_dict)
        author_agent_id = d.pop("author_agent_id")

        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        description = d.pop("description")

        diff_to_parent = d.pop("diff_to_parent")

        id = d.pop("id")

        def _parse_parent_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        parent_id = _parse_parent_id(d.pop("parent_id"))

        rebased = d.pop("rebased")

        source = d.pop("source")

        stats = DiffStats.from_dict(d.pop("stats"))

        track_id = d.pop("track_id")

        ast_hash = d.pop("ast_hash", UNSET)

        revision = cls(
            author_agent_id=author_agent_id,
            create_time=create_time,
            description=description,
            diff_to_parent=diff_to_parent,
            id=id,
            parent_id=parent_id,
            rebased=rebased,
            source=source,
            stats=stats,
            track_id=track_id,
            ast_hash=ast_hash,
        )

        revision.additional_properties = d
        return revision

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
