from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.search_replace_block import SearchReplaceBlock


T = TypeVar("T", bound="ProposeEditRequest")


@_attrs_define
class ProposeEditRequest:
    """
    Attributes:
        base_revision (None | str | Unset):
        description (str | Unset):  Default: ''.
        full_source (None | str | Unset):
        request_id (None | str | Unset):
        search_replace (list[SearchReplaceBlock] | None | Unset):
        unified_diff (None | str | Unset):
    """

    base_revision: None | str | Unset = UNSET
    description: str | Unset = ""
    full_source: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    search_replace: list[SearchReplaceBlock] | None | Unset = UNSET
    unified_diff: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        base_revision: None | str | Unset
        if isinstance(self.base_revision, Unset):
            base_revision = UNSET
        else:
            base_revision = self.base_revision

        description = self.description

        full_source: None | str | Unset
        if isinstance(self.full_source, Unset):
            full_source = UNSET
        else:
            full_source = self.full_source

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        search_replace: list[dict[str, Any]] | None | Unset
        if isinstance(self.search_replace, Unset):
            search_replace = UNSET
        elif isinstance(self.search_replace, list):
            search_replace = []
            for search_replace_type_0_item_data in self.search_replace:
                search_replace_type_0_item = search_replace_type_0_item_data.to_dict()
                search_replace.append(search_replace_type_0_item)

        else:
            search_replace = self.search_replace

        unified_diff: None | str | Unset
        if isinstance(self.unified_diff, Unset):
            unified_diff = UNSET
        else:
            unified_diff = self.unified_diff

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if base_revision is not UNSET:
            field_dict["base_revision"] = base_revision
        if description is not UNSET:
            field_dict["description"] = description
        if full_source is not UNSET:
            field_dict["full_source"] = full_source
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if search_replace is not UNSET:
            field_dict["search_replace"] = search_replace
        if unified_diff is not UNSET:
            field_dict["unified_diff"] = unified_diff

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.search_replace_block import SearchReplaceBlock

        d = dict(src_dict)

        def _parse_base_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        base_revision = _parse_base_revision(d.pop("base_revision", UNSET))

        description = d.pop("description", UNSET)

        def _parse_full_source(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        full_source = _parse_full_source(d.pop("full_source", UNSET))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        def _parse_search_replace(
            data: object,
        ) -> list[SearchReplaceBlock] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                search_replace_type_0 = []
                _search_replace_type_0 = data
                for search_replace_type_0_item_data in _search_replace_type_0:
                    search_replace_type_0_item = SearchReplaceBlock.from_dict(
                        search_replace_type_0_item_data
                    )

                    search_replace_type_0.append(search_replace_type_0_item)

                return search_replace_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[SearchReplaceBlock] | None | Unset, data)

        search_replace = _parse_search_replace(d.pop("search_replace", UNSET))

        def _parse_unified_diff(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        unified_diff = _parse_unified_diff(d.pop("unified_diff", UNSET))

        propose_edit_request = cls(
            base_revision=base_revision,
            description=description,
            full_source=full_source,
            request_id=request_id,
            search_replace=search_replace,
            unified_diff=unified_diff,
        )

        propose_edit_request.additional_properties = d
        return propose_edit_request

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
