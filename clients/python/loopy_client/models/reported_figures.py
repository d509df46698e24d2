from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReportedFigures")


@_attrs_define
class ReportedFigures:
    """
    Attributes:
        device_name (None | str | Unset):
        failure_reason (None | str | Unset):
        mfu_percent (float | None | Unset):
        num_params (int | None | Unset):
        num_steps (int | None | Unset):
        peak_memory_mb (float | None | Unset):
        total_tokens (int | None | Unset):
        training_seconds (float | None | Unset):
    """

    device_name: None | str | Unset = UNSET
    failure_reason: None | str | Unset = UNSET
    mfu_percent: float | None | Unset = UNSET
    num_params: int | None | Unset = UNSET
    num_steps: int | None | Unset = UNSET
    peak_memory_mb: float | None | Unset = UNSET
    total_tokens: int | None | Unset = UNSET
    training_seconds: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        device_name: None | str | Unset
        if isinstance(self.device_name, Unset):
            device_name = UNSET
        else:
            device_name = self.device_name

        failure_reason: None | str | Unset
        if isinstance(self.failure_reason, Unset):
            failure_reason = UNSET
        else:
            failure_reason = self.failure_reason

        mfu_percent: float | None | Unset
        if isinstance(self.mfu_percent, Unset):
            mfu_percent = UNSET
        else:
            mfu_percent = self.mfu_percent

        num_params: int | None | Unset
        if isinstance(self.num_params, Unset):
            num_params = UNSET
        else:
            num_params = self.num_params

        num_steps: int | None | Unset
        if isinstance(self.num_steps, Unset):
            num_steps = UNSET
        else:
            num_steps = self.num_steps

        peak_memory_mb: float | None | Unset
        if isinstance(self.peak_memory_mb, Unset):
            peak_memory_mb = UNSET
        else:
            peak_memory_mb = self.peak_memory_mb

        total_tokens: int | None | Unset
        if isinstance(self.total_tokens, Unset):
            total_tokens = UNSET
        else:
            total_tokens = self.total_tokens

        training_seconds: float | None | Unset
        if isinstance(self.training_seconds, Unset):
            training_seconds = UNSET
        else:
            training_seconds = self.training_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if device_name is not UNSET:
            field_dict["device_name"] = device_name
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if mfu_percent is not UNSET:
            field_dict["mfu_percent"] = mfu_percent
        if num_params is not UNSET:
            field_dict["num_params"] = num_params
        if num_steps is not UNSET:
            field_dict["num_steps"] = num_steps
        if peak_memory_mb is not UNSET:
            field_dict["peak_memory_mb"] = peak_memory_mb
        if total_tokens is not UNSET:
            field_dict["total_tokens"] = total_tokens
        if training_seconds is not UNSET:
            field_dict["training_seconds"] = training_seconds

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_device_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        device_name = _parse_device_name(d.pop("device_name", UNSET))

        def _parse_failure_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        failure_reason = _parse_failure_reason(d.pop("failure_reason", UNSET))

        def _parse_mfu_percent(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        mfu_percent = _parse_mfu_percent(d.pop("mfu_percent", UNSET))

        def _parse_num_params(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        num_params = _parse_num_params(d.pop("num_params", UNSET))

        def _parse_num_steps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        num_steps = _parse_num_steps(d.pop("num_steps", UNSET))

        def _parse_peak_memory_mb(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        peak_memory_mb = _parse_peak_memory_mb(d.pop("peak_memory_mb", UNSET))

        def _parse_total_tokens(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        total_tokens = _parse_total_tokens(d.pop("total_tokens", UNSET))

        def _parse_training_seconds(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        training_seconds = _parse_training_seconds(d.pop("training_seconds", UNSET))

        reported_figures = cls(
            device_name=device_name,
            failure_reason=failure_reason,
            mfu_percent=mfu_percent,
            num_params=num_params,
            num_steps=num_steps,
            peak_memory_mb=peak_memory_mb,
            total_tokens=total_tokens,
            training_seconds=training_seconds,
        )

        reported_figures.additional_properties = d
        return reported_figures

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
