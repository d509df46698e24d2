from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.overhead_breakdown import OverheadBreakdown
    from ..models.reported_figures import ReportedFigures
    from ..models.run_summary_artifacts import RunSummaryArtifacts


T = TypeVar("T", bound="RunSummary")


@_attrs_define
class RunSummary:
    """
    Attributes:
        artifacts (RunSummaryArtifacts | Unset):
        compute_seconds (float | Unset):  Default: 0.0.
        device_name (str | Unset):  Default: ''.
        mfu_percent (float | None | Unset):
        num_params (int | Unset):  Default: 0.
        num_steps (int | Unset):  Default: 0.
        overhead (OverheadBreakdown | Unset):
        peak_memory_mb (float | Unset):  Default: 0.0.
        reported (ReportedFigures | Unset):
        sandbox (str | Unset):  Default: ''.
        speed_probe (float | None | Unset):
        total_seconds (float | Unset):  Default: 0.0.
        total_tokens (int | Unset):  Default: 0.
        training_seconds (float | Unset):  Default: 0.0.
        val_bpb (float | None | Unset):
    """

    artifacts: RunSummaryArtifacts | Unset = UNSET
    compute_seconds: float | Unset = 0.0
    device_name: str | Unset = ""
    mfu_percent: float | None | Unset = UNSET
    num_params: int | Unset = 0
    num_steps: int | Unset = 0
    overhead: OverheadBreakdown | Unset = UNSET
    peak_memory_mb: float | Unset = 0.0
    reported: ReportedFigures | Unset = UNSET
    sandbox: str | Unset = ""
    speed_probe: float | None | Unset = UNSET
    total_seconds: float | Unset = 0.0
    total_tokens: int | Unset = 0
    training_seconds: float | Unset = 0.0
    val_bpb: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        artifacts: dict[str, Any] | Unset = UNSET
        if not isinstance(self.artifacts, Unset):
            artifacts = self.artifacts.to_dict()

        compute_seconds = self.compute_seconds

        device_name = self.device_name

        mfu_percent: float | None | Unset
        if isinstance(self.mfu_percent, Unset):
            mfu_percent = UNSET
        else:
            mfu_percent = self.mfu_percent

        num_params = self.num_params

        num_steps = self.num_steps

        overhead: dict[str, Any] | Unset = UNSET
        if not isinstance(self.overhead, Unset):
            overhead = self.overhead.to_dict()

        peak_memory_mb = self.peak_memory_mb

        reported: dict[str, Any] | Unset = UNSET
        if not isinstance(self.reported, Unset):
            reported = self.reported.to_dict()

        sandbox = self.sandbox

        speed_probe: float | None | Unset
        if isinstance(self.speed_probe, Unset):
            speed_probe = UNSET
        else:
            speed_probe = self.speed_probe

        total_seconds = self.total_seconds

        total_tokens = self.total_tokens

        training_seconds = self.training_seconds

        val_bpb: float | None | Unset
        if isinstance(self.val_bpb, Unset):
            val_bpb = UNSET
        else:
            val_bpb = self.val_bpb

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if artifacts is not UNSET:
            field_dict["artifacts"] = artifacts
        if compute_seconds is not UNSET:
            field_dict["compute_seconds"] = compute_seconds
        if device_name is not UNSET:
            field_dict["device_name"] = device_name
        if mfu_percent is not UNSET:
            field_dict["mfu_percent"] = mfu_percent
        if num_params is not UNSET:
            field_dict["num_params"] = num_params
        if num_steps is not UNSET:
            field_dict["num_steps"] = num_steps
        if overhead is not UNSET:
            field_dict["overhead"] = overhead
        if peak_memory_mb is not UNSET:
            field_dict["peak_memory_mb"] = peak_memory_mb
        if reported is not UNSET:
            field_dict["reported"] = reported
        if sandbox is not UNSET:
            field_dict["sandbox"] = sandbox
        if speed_probe is not UNSET:
            field_dict["speed_probe"] = speed_probe
        if total_seconds is not UNSET:
            field_dict["total_seconds"] = total_seconds
        if total_tokens is not UNSET:
            field_dict["total_tokens"] = total_tokens
        if training_seconds is not UNSET:
            field_dict["training_seconds"] = training_seconds
        if val_bpb is not UNSET:
            field_dict["val_bpb"] = val_bpb

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.overhead_breakdown import OverheadBreakdown
        from ..models.reported_figures import ReportedFigures
        from ..models.run_summary_artifacts import RunSummaryArtifacts

        d = dict(src_dict)
        _artifacts = d.pop("artifacts", UNSET)
        artifacts: RunSummaryArtifacts | Unset
        if isinstance(_artifacts, Unset):
            artifacts = UNSET
        else:
            artifacts = RunSummaryArtifacts.from_dict(_artifacts)

        compute_seconds = d.pop("compute_seconds", UNSET)

        device_name = d.pop("device_name", UNSET)

        def _parse_mfu_percent(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        mfu_percent = _parse_mfu_percent(d.pop("mfu_percent", UNSET))

        num_params = d.pop("num_params", UNSET)

        num_steps = d.pop("num_steps", UNSET)

        _overhead = d.pop("overhead", UNSET)
        overhead: OverheadBreakdown | Unset
        if isinstance(_overhead, Unset):
            overhead = UNSET
        else:
            overhead = OverheadBreakdown.from_dict(_overhead)

        peak_memory_mb = d.pop("peak_memory_mb", UNSET)

        _reported = d.pop("reported", UNSET)
        reported: ReportedFigures | Unset
        if isinstance(_reported, Unset):
            reported = UNSET
        else:
            reported = ReportedFigures.from_dict(_reported)

        sandbox = d.pop("sandbox", UNSET)

        def _parse_speed_probe(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        speed_probe = _parse_speed_probe(d.pop("speed_probe", UNSET))

        total_seconds = d.pop("total_seconds", UNSET)

        total_tokens = d.pop("total_tokens", UNSET)

        training_seconds = d.pop("training_seconds", UNSET)

        def _parse_val_bpb(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        val_bpb = _parse_val_bpb(d.pop("val_bpb", UNSET))

        run_summary = cls(
            artifacts=artifacts,
            compute_seconds=compute_seconds,
            device_name=device_name,
            mfu_percent=mfu_percent,
            num_params=num_params,
            num_steps=num_steps,
            overhead=overhead,
            peak_memory_mb=peak_memory_mb,
            reported=reported,
            sandbox=sandbox,
            speed_probe=speed_probe,
            total_seconds=total_seconds,
            total_tokens=total_tokens,
            training_seconds=training_seconds,
            val_bpb=val_bpb,
        )

        run_summary.additional_properties = d
        return run_summary

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
