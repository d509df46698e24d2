from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.evaluation_state import EvaluationState
from ..models.verdict import Verdict
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.diff_stats import DiffStats
    from ..models.sample_stats import SampleStats


T = TypeVar("T", bound="Evaluation")


@_attrs_define
class Evaluation:
    """
    Attributes:
        candidate (SampleStats):
        create_time (datetime.datetime):
        delta (float | None):
        diff_stats (DiffStats):
        failure_message (None | str):
        finish_time (datetime.datetime | None):
        id (str):
        noise_std (float | None):
        promoted (bool):
        reference (SampleStats):
        replicate_run_ids (list[str]):
        run_id (str):
        state (EvaluationState):
        track_id (str):
        verdict (None | Verdict):
        z_score (float | None):
        request_id (None | str | Unset):
        sandbox (str | Unset):  Default: ''.
    """

    candidate: SampleStats
    create_time: datetime.datetime
    delta: float | None
    diff_stats: DiffStats
    failure_message: None | str
    finish_time: datetime.datetime | None
    id: str
    noise_std: float | None
    promoted: bool
    reference: SampleStats
    replicate_run_ids: list[str]
    run_id: str
    state: EvaluationState
    track_id: str
    verdict: None | Verdict
    z_score: float | None
    request_id: None | str | Unset = UNSET
    sandbox: str | Unset = ""
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        candidate = self.candidate.to_dict()

        create_time = self.create_time.isoformat()

        delta: float | None
        delta = self.delta

        diff_stats = self.diff_stats.to_dict()

        failure_message: None | str
        failure_message = self.failure_message

        finish_time: None | str
        if isinstance(self.finish_time, datetime.datetime):
            finish_time = self.finish_time.isoformat()
        else:
            finish_time = self.finish_time

        id = self.id

        noise_std: float | None
        noise_std = self.noise_std

        promoted = self.promoted

        reference = self.reference.to_dict()

        replicate_run_ids = self.replicate_run_ids

        run_id = self.run_id

        state = self.state.value

        track_id = self.track_id

        verdict: None | str
        if isinstance(self.verdict, Verdict):
            verdict = self.verdict.value
        else:
            verdict = self.verdict

        z_score: float | None
        z_score = self.z_score

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        sandbox = self.sandbox

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "candidate": candidate,
                "create_time": create_time,
                "delta": delta,
                "diff_stats": diff_stats,
                "failure_message": failure_message,
                "finish_time": finish_time,
                "id": id,
                "noise_std": noise_std,
                "promoted": promoted,
                "reference": reference,
                "replicate_run_ids": replicate_run_ids,
                "run_id": run_id,
                "state": state,
                "track_id": track_id,
                "verdict": verdict,
                "z_score": z_score,
            }
        )
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if sandbox is not UNSET:
            field_dict["sandbox"] = sandbox

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.diff_stats import DiffStats
        from ..models.sample_stats import SampleStats

        d = dict(src_dict)
        candidate = SampleStats.from_dict(d.pop("candidate"))

        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        def _parse_delta(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        delta = _parse_delta(d.pop("delta"))

        diff_stats = DiffStats.from_dict(d.pop("diff_stats"))

        def _parse_failure_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        failure_message = _parse_failure_message(d.pop("failure_message"))

        def _parse_finish_time(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finish_time_type_0 = datetime.datetime.fromisoformat(data)

                return finish_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finish_time = _parse_finish_time(d.pop("finish_time"))

        id = d.pop("id")

        def _parse_noise_std(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        noise_std = _parse_noise_std(d.pop("noise_std"))

        promoted = d.pop("promoted")

        reference = SampleStats.from_dict(d.pop("reference"))

        replicate_run_ids = cast(list[str], d.pop("replicate_run_ids"))

        run_id = d.pop("run_id")

        state = EvaluationState(d.pop("state"))

        track_id = d.pop("track_id")

        def _parse_verdict(data: object) -> None | Verdict:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                verdict_type_0 = Verdict(data)

                return verdict_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Verdict, data)

        verdict = _parse_verdict(d.pop("verdict"))

        def _parse_z_score(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        z_score = _parse_z_score(d.pop("z_score"))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        sandbox = d.pop("sandbox", UNSET)

        evaluation = cls(
            candidate=candidate,
            create_time=create_time,
            delta=delta,
            diff_stats=diff_stats,
            failure_message=failure_message,
            finish_time=finish_time,
            id=id,
            noise_std=noise_std,
            promoted=promoted,
            reference=reference,
            replicate_run_ids=replicate_run_ids,
            run_id=run_id,
            state=state,
            track_id=track_id,
            verdict=verdict,
            z_score=z_score,
            request_id=request_id,
            sandbox=sandbox,
        )

        evaluation.additional_properties = d
        return evaluation

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
