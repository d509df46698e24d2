from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.diff_stats import DiffStats
    from ..models.revision import Revision


T = TypeVar("T", bound="RevisionView")


@_attrs_define
class RevisionView:
    """
    Attributes:
        children (list[str]):
        diff_to_baseline (str):
        revision (Revision):
        run_ids (list[str]):
        stats_to_baseline (DiffStats):
        equivalent_to (list[str] | Unset):
    """

    children: list[str]
    diff_to_baseline: str
    revision: Revision
    run_ids: list[str]
    stats_to_baseline: DiffStats
    equivalent_to: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        children = self.children

        diff_to_baseline = self.diff_to_baseline

        revision = self.revision.to_dict()

        run_ids = self.run_ids

        stats_to_baseline = self.stats_to_baseline.to_dict()

        equivalent_to: list[str] | Unset = UNSET
        if not isinstance(self.equivalent_to, Unset):
            equivalent_to = self.equivalent_to

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "children": children,
                "diff_to_baseline": diff_to_baseline,
                "revision": revision,
                "run_ids": run_ids,
                "stats_to_baseline": stats_to_baseline,
            }
        )
        if equivalent_to is not UNSET:
            field_dict["equivalent_to"] = equivalent_to

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.diff_stats import DiffStats
        from ..models.revision import Revision

        d = dict(src_dict)
        children = cast(list[str], d.pop("children"))

        diff_to_baseline = d.pop("diff_to_baseline")

        revision = Revision.from_dict(d.pop("revision"))

        run_ids = cast(list[str], d.pop("run_ids"))

        stats_to_baseline = DiffStats.from_dict(d.pop("stats_to_baseline"))

        equivalent_to = cast(list[str], d.pop("equivalent_to", UNSET))

        revision_view = cls(
            children=children,
            diff_to_baseline=diff_to_baseline,
            revision=revision,
            run_ids=run_ids,
            stats_to_baseline=stats_to_baseline,
            equivalent_to=equivalent_to,
        )

        revision_view.additional_properties = d
        return revision_view

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
