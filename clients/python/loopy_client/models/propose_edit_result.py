from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.revision import Revision


T = TypeVar("T", bound="ProposeEditResult")


@_attrs_define
class ProposeEditResult:
    """
    Attributes:
        already_exists (bool):
        existing_run_ids (list[str]):
        proposal_id (str):
        rebased (bool):
        revision (Revision):
        equivalent_to (list[str] | Unset):
        notes (list[str] | Unset):
    """

    already_exists: bool
    existing_run_ids: list[str]
    proposal_id: str
    rebased: bool
    revision: Revision
    equivalent_to: list[str] | Unset = UNSET
    notes: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        already_exists = self.already_exists

        existing_run_ids = self.existing_run_ids

        proposal_id = self.proposal_id

        rebased = self.rebased

        revision = self.revision.to_dict()

        equivalent_to: list[str] | Unset = UNSET
        if not isinstance(self.equivalent_to, Unset):
            equivalent_to = self.equivalent_to

        notes: list[str] | Unset = UNSET
        if not isinstance(self.notes, Unset):
            notes = self.notes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "already_exists": already_exists,
                "existing_run_ids": existing_run_ids,
                "proposal_id": proposal_id,
                "rebased": rebased,
                "revision": revision,
            }
        )
        if equivalent_to is not UNSET:
            field_dict["equivalent_to"] = equivalent_to
        if notes is not UNSET:
            field_dict["notes"] = notes

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.revision import Revision

        d = dict(src_dict)
        already_exists = d.pop("already_exists")

        existing_run_ids = cast(list[str], d.pop("existing_run_ids"))

        proposal_id = d.pop("proposal_id")

        rebased = d.pop("rebased")

        revision = Revision.from_dict(d.pop("revision"))

        equivalent_to = cast(list[str], d.pop("equivalent_to", UNSET))

        notes = cast(list[str], d.pop("notes", UNSET))

        propose_edit_result = cls(
            already_exists=already_exists,
            existing_run_ids=existing_run_ids,
            proposal_id=proposal_id,
            rebased=rebased,
            revision=revision,
            equivalent_to=equivalent_to,
            notes=notes,
        )

        propose_edit_result.additional_properties = d
        return propose_edit_result

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
