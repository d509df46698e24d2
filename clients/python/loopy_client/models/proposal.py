from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.patch_format import PatchFormat
from ..models.proposal_outcome import ProposalOutcome
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.proposal_rejection_details_type_0 import ProposalRejectionDetailsType0


T = TypeVar("T", bound="Proposal")


@_attrs_define
class Proposal:
    """
    Attributes:
        author_agent_id (str):
        base_revision (str):
        create_time (datetime.datetime):
        description (str):
        format_ (PatchFormat):
        head_revision_at_proposal (str):
        id (str):
        outcome (ProposalOutcome):
        patch (str):
        rejection_details (None | ProposalRejectionDetailsType0):
        rejection_message (None | str):
        revision_id (None | str):
        track_id (str):
        request_id (None | str | Unset):
    """

    author_agent_id: str
    base_revision: str
    create_time: datetime.datetime
    description: str
    format_: PatchFormat
    head_revision_at_proposal: str
    id: str
    outcome: ProposalOutcome
    patch: str
    rejection_details: None | ProposalRejectionDetailsType0
    rejection_message: None | str
    revision_id: None | str
    track_id: str
    request_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.proposal_rejection_details_type_0 import (
            ProposalRejectionDetailsType0,
        )

        author_agent_id = self.author_agent_id

        base_revision = self.base_revision

        create_time = self.create_time.isoformat()

        description = self.description

        format_ = self.format_.value

        head_revision_at_proposal = self.head_revision_at_proposal

        id = self.id

        outcome = self.outcome.value

        patch = self.patch

        rejection_details: dict[str, Any] | None
        if isinstance(self.rejection_details, ProposalRejectionDetailsType0):
            rejection_details = self.rejection_details.to_dict()
        else:
            rejection_details = self.rejection_details

        rejection_message: None | str
        rejection_message = self.rejection_message

        revision_id: None | str
        revision_id = self.revision_id

        track_id = self.track_id

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "author_agent_id": author_agent_id,
                "base_revision": base_revision,
                "create_time": create_time,
                "description": description,
                "format": format_,
                "head_revision_at_proposal": head_revision_at_proposal,
                "id": id,
                "outcome": outcome,
                "patch": patch,
                "rejection_details": rejection_details,
                "rejection_message": rejection_message,
                "revision_id": revision_id,
                "track_id": track_id,
            }
        )
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.proposal_rejection_details_type_0 import (
            ProposalRejectionDetailsType0,
        )

        d = dict(src_dict)
        author_agent_id = d.pop("author_agent_id")

        base_revision = d.pop("base_revision")

        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        description = d.pop("description")

        format_ = PatchFormat(d.pop("format"))

        head_revision_at_proposal = d.pop("head_revision_at_proposal")

        id = d.pop("id")

        outcome = ProposalOutcome(d.pop("outcome"))

        patch = d.pop("patch")

        def _parse_rejection_details(
            data: object,
        ) -> None | ProposalRejectionDetailsType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                rejection_details_type_0 = ProposalRejectionDetailsType0.from_dict(data)

                return rejection_details_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ProposalRejectionDetailsType0, data)

        rejection_details = _parse_rejection_details(d.pop("rejection_details"))

        def _parse_rejection_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        rejection_message = _parse_rejection_message(d.pop("rejection_message"))

        def _parse_revision_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        revision_id = _parse_revision_id(d.pop("revision_id"))

        track_id = d.pop("track_id")

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        proposal = cls(
            author_agent_id=author_agent_id,
            base_revision=base_revision,
            create_time=create_time,
            description=description,
            format_=format_,
            head_revision_at_proposal=head_revision_at_proposal,
            id=id,
            outcome=outcome,
            patch=patch,
            rejection_details=rejection_details,
            rejection_message=rejection_message,
            revision_id=revision_id,
            track_id=track_id,
            request_id=request_id,
        )

        proposal.additional_properties = d
        return proposal

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
