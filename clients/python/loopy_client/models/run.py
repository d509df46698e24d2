from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.failure_reason import FailureReason
from ..models.run_purpose import RunPurpose
from ..models.run_state import RunState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.run_summary import RunSummary


T = TypeVar("T", bound="Run")


@_attrs_define
class Run:
    """
    Attributes:
        agent_id (str):
        attempt (int):
        create_time (datetime.datetime):
        device_class (str):
        end_time (datetime.datetime | None):
        failure_message (None | str):
        failure_reason (FailureReason | None):
        harness_id (str):
        heartbeat_time (datetime.datetime | None):
        id (str):
        purpose (RunPurpose):
        revision_id (str):
        seed (int):
        start_time (datetime.datetime | None):
        state (RunState):
        summary (None | RunSummary):
        time_budget_s (float):
        track_id (str):
        worker_id (None | str):
        evaluation_id (None | str | Unset):
        request_id (None | str | Unset):
        token_budget (int | Unset):  Default: 0.
    """

    agent_id: str
    attempt: int
    create_time: datetime.datetime
    device_class: str
    end_time: datetime.datetime | None
    failure_message: None | str
    failure_reason: FailureReason | None
    harness_id: str
    heartbeat_time: datetime.datetime | None
    id: str
    purpose: RunPurpose
    revision_id: str
    seed: int
    start_time: datetime.datetime | None
    state: RunState
    summary: None | RunSummary
    time_budget_s: float
    track_id: str
    worker_id: None | str
    evaluation_id: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    token_budget: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.run_summary import RunSummary

        agent_id = self.agent_id

        attempt = self.attempt

        create_time = self.create_time.isoformat()

        device_class = self.device_class

        end_time: None | str
        if isinstance(self.end_time, datetime.datetime):
            end_time = self.end_time.isoformat()
        else:
            end_time = self.end_time

        failure_message: None | str
        failure_message = self.failure_message

        failure_reason: None | str
        if isinstance(self.failure_reason, FailureReason):
            failure_reason = self.failure_reason.value
        else:
            failure_reason = self.failure_reason

        harness_id = self.harness_id

        heartbeat_time: None | str
        if isinstance(self.heartbeat_time, datetime.datetime):
            heartbeat_time = self.heartbeat_time.isoformat()
        else:
            heartbeat_time = self.heartbeat_time

        id = self.id

        purpose = self.purpose.value

        revision_id = self.revision_id

        seed = self.seed

        start_time: None | str
        if isinstance(self.start_time, datetime.datetime):
            start_time = self.start_time.isoformat()
        else:
            start_time = self.start_time

        state = self.state.value

        summary: dict[str, Any] | None
        if isinstance(self.summary, RunSummary):
            summary = self.summary.to_dict()
        else:
            summary = self.summary

        time_budget_s = self.time_budget_s

        track_id = self.track_id

        worker_id: None | str
        worker_id = self.worker_id

        evaluation_id: None | str | Unset
        if isinstance(self.evaluation_id, Unset):
            evaluation_id = UNSET
        else:
            evaluation_id = self.evaluation_id

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        token_budget = self.token_budget

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent_id": agent_id,
                "attempt": attempt,
                "create_time": create_time,
                "device_class": device_class,
                "end_time": end_time,
                "failure_message": failure_message,
                "failure_reason": failure_reason,
                "harness_id": harness_id,
                "heartbeat_time": heartbeat_time,
                "id": id,
                "purpose": purpose,
                "revision_id": revision_id,
                "seed": seed,
                "start_time": start_time,
                "state": state,
                "summary": summary,
                "time_budget_s": time_budget_s,
                "track_id": track_id,
                "worker_id": worker_id,
            }
        )
        if evaluation_id is not UNSET:
            field_dict["evaluation_id"] = evaluation_id
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if token_budget is not UNSET:
            field_dict["token_budget"] = token_budget

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.run_summary import RunSummary

        d = dict(src_dict)
        agent_id = d.pop("agent_id")

        attempt = d.pop("attempt")

        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        device_class = d.pop("device_class")

        def _parse_end_time(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                end_time_type_0 = datetime.datetime.fromisoformat(data)

                return end_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        end_time = _parse_end_time(d.pop("end_time"))

        def _parse_failure_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        failure_message = _parse_failure_message(d.pop("failure_message"))

        def _parse_failure_reason(data: object) -> FailureReason | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                failure_reason_type_0 = FailureReason(data)

                return failure_reason_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FailureReason | None, data)

        failure_reason = _parse_failure_reason(d.pop("failure_reason"))

        harness_id = d.pop("harness_id")

        def _parse_heartbeat_time(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                heartbeat_time_type_0 = datetime.datetime.fromisoformat(data)

                return heartbeat_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        heartbeat_time = _parse_heartbeat_time(d.pop("heartbeat_time"))

        id = d.pop("id")

        purpose = RunPurpose(d.pop("purpose"))

        revision_id = d.pop("revision_id")

        seed = d.pop("seed")

        def _parse_start_time(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                start_time_type_0 = datetime.datetime.fromisoformat(data)

                return start_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        start_time = _parse_start_time(d.pop("start_time"))

        state = RunState(d.pop("state"))

        def _parse_summary(data: object) -> None | RunSummary:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                summary_type_0 = RunSummary.from_dict(data)

                return summary_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunSummary, data)

        summary = _parse_summary(d.pop("summary"))

        time_budget_s = d.pop("time_budget_s")

        track_id = d.pop("track_id")

        def _parse_worker_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        worker_id = _parse_worker_id(d.pop("worker_id"))

        def _parse_evaluation_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        evaluation_id = _parse_evaluation_id(d.pop("evaluation_id", UNSET))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        token_budget = d.pop("token_budget", UNSET)

        run = cls(
            agent_id=agent_id,
            attempt=attempt,
            create_time=create_time,
            device_class=device_class,
            end_time=end_time,
            failure_message=failure_message,
            failure_reason=failure_reason,
            harness_id=harness_id,
            heartbeat_time=heartbeat_time,
            id=id,
            purpose=purpose,
            revision_id=revision_id,
            seed=seed,
            start_time=start_time,
            state=state,
            summary=summary,
            time_budget_s=time_budget_s,
            track_id=track_id,
            worker_id=worker_id,
            evaluation_id=evaluation_id,
            request_id=request_id,
            token_budget=token_budget,
        )

        run.additional_properties = d
        return run

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
