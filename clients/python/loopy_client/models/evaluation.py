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
    from ..models.eval_pair import EvalPair
    from ..models.sample_stats import SampleStats
    from ..models.speed_check import SpeedCheck


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
        agent_id (str | Unset):  Default: ''.
        e_value (float | None | Unset):
        equivalent_to (None | str | Unset):
        fdr_test_index (int | None | Unset):
        interval_high (float | None | Unset):
        interval_low (float | None | Unset):
        level (float | None | Unset):
        max_pairs (int | Unset):  Default: 0.
        method (str | Unset):  Default: ''.
        pairs (list[EvalPair] | Unset):
        pairs_per_round (int | Unset):  Default: 0.
        pairs_used (int | Unset):  Default: 0.
        reason (str | Unset):  Default: ''.
        request_id (None | str | Unset):
        sandbox (str | Unset):  Default: ''.
        speed (None | SpeedCheck | Unset):
        threshold (float | None | Unset):
        version (int | Unset):  Default: 0.
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
    agent_id: str | Unset = ""
    e_value: float | None | Unset = UNSET
    equivalent_to: None | str | Unset = UNSET
    fdr_test_index: int | None | Unset = UNSET
    interval_high: float | None | Unset = UNSET
    interval_low: float | None | Unset = UNSET
    level: float | None | Unset = UNSET
    max_pairs: int | Unset = 0
    method: str | Unset = ""
    pairs: list[EvalPair] | Unset = UNSET
    pairs_per_round: int | Unset = 0
    pairs_used: int | Unset = 0
    reason: str | Unset = ""
    request_id: None | str | Unset = UNSET
    sandbox: str | Unset = ""
    speed: None | SpeedCheck | Unset = UNSET
    threshold: float | None | Unset = UNSET
    version: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.speed_check import SpeedCheck

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

        agent_id = self.agent_id

        e_value: float | None | Unset
        if isinstance(self.e_value, Unset):
            e_value = UNSET
        else:
            e_value = self.e_value

        equivalent_to: None | str | Unset
        if isinstance(self.equivalent_to, Unset):
            equivalent_to = UNSET
        else:
            equivalent_to = self.equivalent_to

        fdr_test_index: int | None | Unset
        if isinstance(self.fdr_test_index, Unset):
            fdr_test_index = UNSET
        else:
            fdr_test_index = self.fdr_test_index

        interval_high: float | None | Unset
        if isinstance(self.interval_high, Unset):
            interval_high = UNSET
        else:
            interval_high = self.interval_high

        interval_low: float | None | Unset
        if isinstance(self.interval_low, Unset):
            interval_low = UNSET
        else:
            interval_low = self.interval_low

        level: float | None | Unset
        if isinstance(self.level, Unset):
            level = UNSET
        else:
            level = self.level

        max_pairs = self.max_pairs

        method = self.method

        pairs: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.pairs, Unset):
            pairs = []
            for pairs_item_data in self.pairs:
                pairs_item = pairs_item_data.to_dict()
                pairs.append(pairs_item)

        pairs_per_round = self.pairs_per_round

        pairs_used = self.pairs_used

        reason = self.reason

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        sandbox = self.sandbox

        speed: dict[str, Any] | None | Unset
        if isinstance(self.speed, Unset):
            speed = UNSET
        elif isinstance(self.speed, SpeedCheck):
            speed = self.speed.to_dict()
        else:
            speed = self.speed

        threshold: float | None | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold

        version = self.version

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
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if e_value is not UNSET:
            field_dict["e_value"] = e_value
        if equivalent_to is not UNSET:
            field_dict["equivalent_to"] = equivalent_to
        if fdr_test_index is not UNSET:
            field_dict["fdr_test_index"] = fdr_test_index
        if interval_high is not UNSET:
            field_dict["interval_high"] = interval_high
        if interval_low is not UNSET:
            field_dict["interval_low"] = interval_low
        if level is not UNSET:
            field_dict["level"] = level
        if max_pairs is not UNSET:
            field_dict["max_pairs"] = max_pairs
        if method is not UNSET:
            field_dict["method"] = method
        if pairs is not UNSET:
            field_dict["pairs"] = pairs
        if pairs_per_round is not UNSET:
            field_dict["pairs_per_round"] = pairs_per_round
        if pairs_used is not UNSET:
            field_dict["pairs_used"] = pairs_used
        if reason is not UNSET:
            field_dict["reason"] = reason
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if sandbox is not UNSET:
            field_dict["sandbox"] = sandbox
        if speed is not UNSET:
            field_dict["speed"] = speed
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.diff_stats import DiffStats
        from ..models.eval_pair import EvalPair
        from ..models.sample_stats import SampleStats
        from ..models.speed_check import SpeedCheck

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

        agent_id = d.pop("agent_id", UNSET)

        def _parse_e_value(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        e_value = _parse_e_value(d.pop("e_value", UNSET))

        def _parse_equivalent_to(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        equivalent_to = _parse_equivalent_to(d.pop("equivalent_to", UNSET))

        def _parse_fdr_test_index(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        fdr_test_index = _parse_fdr_test_index(d.pop("fdr_test_index", UNSET))

        def _parse_interval_high(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        interval_high = _parse_interval_high(d.pop("interval_high", UNSET))

        def _parse_interval_low(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        interval_low = _parse_interval_low(d.pop("interval_low", UNSET))

        def _parse_level(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        level = _parse_level(d.pop("level", UNSET))

        max_pairs = d.pop("max_pairs", UNSET)

        method = d.pop("method", UNSET)

        _pairs = d.pop("pairs", UNSET)
        pairs: list[EvalPair] | Unset = UNSET
        if _pairs is not UNSET:
            pairs = []
            for pairs_item_data in _pairs:
                pairs_item = EvalPair.from_dict(pairs_item_data)

                pairs.append(pairs_item)

        pairs_per_round = d.pop("pairs_per_round", UNSET)

        pairs_used = d.pop("pairs_used", UNSET)

        reason = d.pop("reason", UNSET)

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        sandbox = d.pop("sandbox", UNSET)

        def _parse_speed(data: object) -> None | SpeedCheck | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                speed_type_0 = SpeedCheck.from_dict(data)

                return speed_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SpeedCheck | Unset, data)

        speed = _parse_speed(d.pop("speed", UNSET))

        def _parse_threshold(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        threshold = _parse_threshold(d.pop("threshold", UNSET))

        version = d.pop("version", UNSET)

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
            agent_id=agent_id,
            e_value=e_value,
            equivalent_to=equivalent_to,
            fdr_test_index=fdr_test_index,
            interval_high=interval_high,
            interval_low=interval_low,
            level=level,
            max_pairs=max_pairs,
            method=method,
            pairs=pairs,
            pairs_per_round=pairs_per_round,
            pairs_used=pairs_used,
            reason=reason,
            request_id=request_id,
            sandbox=sandbox,
            speed=speed,
            threshold=threshold,
            version=version,
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
