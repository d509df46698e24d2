from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="EvalPair")


@_attrs_define
class EvalPair:
    """
    Attributes:
        candidate_run_id (str):
        reference_run_id (str):
        seed (int):
        candidate_speed (float | None | Unset):
        difference (float | None | Unset):
        reference_speed (float | None | Unset):
        reused_reference (bool | Unset):  Default: False.
    """

    candidate_run_id: str
    reference_run_id: str
    seed: int
    candidate_speed: float | None | Unset = UNSET
    difference: float | None | Unset = UNSET
    reference_speed: float | None | Unset = UNSET
    reused_reference: bool | Unset = False
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        candidate_run_id = self.candidate_run_id

        reference_run_id = self.reference_run_id

        seed = self.seed

        candidate_speed: float | None | Unset
        if isinstance(self.candidate_speed, Unset):
            candidate_speed = UNSET
        else:
            candidate_speed = self.candidate_speed

        difference: float | None | Unset
        if isinstance(self.difference, Unset):
            difference = UNSET
        else:
            difference = self.difference

        reference_speed: float | None | Unset
        if isinstance(self.reference_speed, Unset):
            reference_speed = UNSET
        else:
            reference_speed = self.reference_speed

        reused_reference = self.reused_reference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "candidate_run_id": candidate_run_id,
                "reference_run_id": reference_run_id,
                "seed": seed,
            }
        )
        if candidate_speed is not UNSET:
            field_dict["candidate_speed"] = candidate_speed
        if difference is not UNSET:
            field_dict["difference"] = difference
        if reference_speed is not UNSET:
            field_dict["reference_speed"] = reference_speed
        if reused_reference is not UNSET:
            field_dict["reused_reference"] = reused_reference

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        candidate_run_id = d.pop("candidate_run_id")

        reference_run_id = d.pop("reference_run_id")

        seed = d.pop("seed")

        def _parse_candidate_speed(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        candidate_speed = _parse_candidate_speed(d.pop("candidate_speed", UNSET))

        def _parse_difference(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        difference = _parse_difference(d.pop("difference", UNSET))

        def _parse_reference_speed(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        reference_speed = _parse_reference_speed(d.pop("reference_speed", UNSET))

        reused_reference = d.pop("reused_reference", UNSET)

        eval_pair = cls(
            candidate_run_id=candidate_run_id,
            reference_run_id=reference_run_id,
            seed=seed,
            candidate_speed=candidate_speed,
            difference=difference,
            reference_speed=reference_speed,
            reused_reference=reused_reference,
        )

        eval_pair.additional_properties = d
        return eval_pair

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
