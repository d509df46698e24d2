from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SpeedCheck")


@_attrs_define
class SpeedCheck:
    """
    Attributes:
        candidate_steps (float | None | Unset):
        candidate_tokens (float | None | Unset):
        confounded (bool | Unset):  Default: False.
        pairs_with_probe (int | Unset):  Default: 0.
        ratio_noise (float | None | Unset):
        reference_steps (float | None | Unset):
        reference_tokens (float | None | Unset):
        speed_ratio (float | None | Unset):
        tolerance (float | Unset):  Default: 0.0.
    """

    candidate_steps: float | None | Unset = UNSET
    candidate_tokens: float | None | Unset = UNSET
    confounded: bool | Unset = False
    pairs_with_probe: int | Unset = 0
    ratio_noise: float | None | Unset = UNSET
    reference_steps: float | None | Unset = UNSET
    reference_tokens: float | None | Unset = UNSET
    speed_ratio: float | None | Unset = UNSET
    tolerance: float | Unset = 0.0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        candidate_steps: float | None | Unset
        if isinstance(self.candidate_steps, Unset):
            candidate_steps = UNSET
        else:
            candidate_steps = self.candidate_steps

        candidate_tokens: float | None | Unset
        if isinstance(self.candidate_tokens, Unset):
            candidate_tokens = UNSET
        else:
            candidate_tokens = self.candidate_tokens

        confounded = self.confounded

        pairs_with_probe = self.pairs_with_probe

        ratio_noise: float | None | Unset
        if isinstance(self.ratio_noise, Unset):
            ratio_noise = UNSET
        else:
            ratio_noise = self.ratio_noise

        reference_steps: float | None | Unset
        if isinstance(self.reference_steps, Unset):
            reference_steps = UNSET
        else:
            reference_steps = self.reference_steps

        reference_tokens: float | None | Unset
        if isinstance(self.reference_tokens, Unset):
            reference_tokens = UNSET
        else:
            reference_tokens = self.reference_tokens

        speed_ratio: float | None | Unset
        if isinstance(self.speed_ratio, Unset):
            speed_ratio = UNSET
        else:
            speed_ratio = self.speed_ratio

        tolerance = self.tolerance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if candidate_steps is not UNSET:
            field_dict["candidate_steps"] = candidate_steps
        if candidate_tokens is not UNSET:
            field_dict["candidate_tokens"] = candidate_tokens
        if confounded is not UNSET:
            field_dict["confounded"] = confounded
        if pairs_with_probe is not UNSET:
            field_dict["pairs_with_probe"] = pairs_with_probe
        if ratio_noise is not UNSET:
            field_dict["ratio_noise"] = ratio_noise
        if reference_steps is not UNSET:
            field_dict["reference_steps"] = reference_steps
        if reference_tokens is not UNSET:
            field_dict["reference_tokens"] = reference_tokens
        if speed_ratio is not UNSET:
            field_dict["speed_ratio"] = speed_ratio
        if tolerance is not UNSET:
            field_dict["tolerance"] = tolerance

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_candidate_steps(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        candidate_steps = _parse_candidate_steps(d.pop("candidate_steps", UNSET))

        def _parse_candidate_tokens(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        candidate_tokens = _parse_candidate_tokens(d.pop("candidate_tokens", UNSET))

        confounded = d.pop("confounded", UNSET)

        pairs_with_probe = d.pop("pairs_with_probe", UNSET)

        def _parse_ratio_noise(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        ratio_noise = _parse_ratio_noise(d.pop("ratio_noise", UNSET))

        def _parse_reference_steps(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        reference_steps = _parse_reference_steps(d.pop("reference_steps", UNSET))

        def _parse_reference_tokens(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        reference_tokens = _parse_reference_tokens(d.pop("reference_tokens", UNSET))

        def _parse_speed_ratio(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        speed_ratio = _parse_speed_ratio(d.pop("speed_ratio", UNSET))

        tolerance = d.pop("tolerance", UNSET)

        speed_check = cls(
            candidate_steps=candidate_steps,
            candidate_tokens=candidate_tokens,
            confounded=confounded,
            pairs_with_probe=pairs_with_probe,
            ratio_noise=ratio_noise,
            reference_steps=reference_steps,
            reference_tokens=reference_tokens,
            speed_ratio=speed_ratio,
            tolerance=tolerance,
        )

        speed_check.additional_properties = d
        return speed_check

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
