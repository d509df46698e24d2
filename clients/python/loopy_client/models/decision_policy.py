from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="DecisionPolicy")


@_attrs_define
class DecisionPolicy:
    """
    Attributes:
        auto_promote (bool | Unset):  Default: False.
        calibration_runs (int | Unset):  Default: 3.
        fdr_alpha (float | Unset):  Default: 0.05.
        k_sigma (float | Unset):  Default: 2.0.
        max_pairs (int | Unset):  Default: 12.
        min_delta (float | Unset):  Default: 0.0.
        replicates (int | Unset):  Default: 2.
        speed_tolerance (float | Unset):  Default: 0.1.
    """

    auto_promote: bool | Unset = False
    calibration_runs: int | Unset = 3
    fdr_alpha: float | Unset = 0.05
    k_sigma: float | Unset = 2.0
    max_pairs: int | Unset = 12
    min_delta: float | Unset = 0.0
    replicates: int | Unset = 2
    speed_tolerance: float | Unset = 0.1
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        auto_promote = self.auto_promote

        calibration_runs = self.calibration_runs

        fdr_alpha = self.fdr_alpha

        k_sigma = self.k_sigma

        max_pairs = self.max_pairs

        min_delta = self.min_delta

        replicates = self.replicates

        speed_tolerance = self.speed_tolerance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if auto_promote is not UNSET:
            field_dict["auto_promote"] = auto_promote
        if calibration_runs is not UNSET:
            field_dict["calibration_runs"] = calibration_runs
        if fdr_alpha is not UNSET:
            field_dict["fdr_alpha"] = fdr_alpha
        if k_sigma is not UNSET:
            field_dict["k_sigma"] = k_sigma
        if max_pairs is not UNSET:
            field_dict["max_pairs"] = max_pairs
        if min_delta is not UNSET:
            field_dict["min_delta"] = min_delta
        if replicates is not UNSET:
            field_dict["replicates"] = replicates
        if speed_tolerance is not UNSET:
            field_dict["speed_tolerance"] = speed_tolerance

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        auto_promote = d.pop("auto_promote", UNSET)

        calibration_runs = d.pop("calibration_runs", UNSET)

        fdr_alpha = d.pop("fdr_alpha", UNSET)

        k_sigma = d.pop("k_sigma", UNSET)

        max_pairs = d.pop("max_pairs", UNSET)

        min_delta = d.pop("min_delta", UNSET)

        replicates = d.pop("replicates", UNSET)

        speed_tolerance = d.pop("speed_tolerance", UNSET)

        decision_policy = cls(
            auto_promote=auto_promote,
            calibration_runs=calibration_runs,
            fdr_alpha=fdr_alpha,
            k_sigma=k_sigma,
            max_pairs=max_pairs,
            min_delta=min_delta,
            replicates=replicates,
            speed_tolerance=speed_tolerance,
        )

        decision_policy.additional_properties = d
        return decision_policy

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
