from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="PromoteRequest")


@_attrs_define
class PromoteRequest:
    """
    Attributes:
        run_id (str):
        evaluation_id (None | str | Unset):
        expected_head_revision (None | str | Unset):
        force (bool | Unset):  Default: False.
        reason (str | Unset):  Default: ''.
    """

    run_id: str
    evaluation_id: None | str | Unset = UNSET
    expected_head_revision: None | str | Unset = UNSET
    force: bool | Unset = False
    reason: str | Unset = ""
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        evaluation_id: None | str | Unset
        if isinstance(self.evaluation_id, Unset):
            evaluation_id = UNSET
        else:
            evaluation_id = self.evaluation_id

        expected_head_revision: None | str | Unset
        if isinstance(self.expected_head_revision, Unset):
            expected_head_revision = UNSET
        else:
            expected_head_revision = self.expected_head_revision

        force = self.force

        reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "run_id": run_id,
            }
        )
        if evaluation_id is not UNSET:
            field_dict["evaluation_id"] = evaluation_id
        if expected_head_revision is not UNSET:
            field_dict["expected_head_revision"] = expected_head_revision
        if force is not UNSET:
            field_dict["force"] = force
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        def _parse_evaluation_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        evaluation_id = _parse_evaluation_id(d.pop("evaluation_id", UNSET))

        def _parse_expected_head_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        expected_head_revision = _parse_expected_head_revision(
            d.pop("expected_head_revision", UNSET)
        )

        force = d.pop("force", UNSET)

        reason = d.pop("reason", UNSET)

        promote_request = cls(
            run_id=run_id,
            evaluation_id=evaluation_id,
            expected_head_revision=expected_head_revision,
            force=force,
            reason=reason,
        )

        promote_request.additional_properties = d
        return promote_request

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
