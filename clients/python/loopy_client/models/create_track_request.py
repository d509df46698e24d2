from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.budget_kind import BudgetKind
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.decision_policy import DecisionPolicy


T = TypeVar("T", bound="CreateTrackRequest")


@_attrs_define
class CreateTrackRequest:
    """
    Attributes:
        harness_id (str):
        track_id (str):
        allowed_imports (list[str] | None | Unset):
        baseline_source (None | str | Unset):
        budget_kind (BudgetKind | Unset):
        description (str | Unset):  Default: ''.
        device_class (str | Unset):  Default: 'cpu'.
        display_name (str | Unset):  Default: ''.
        policy (DecisionPolicy | Unset):
        program (None | str | Unset):
        request_id (None | str | Unset):
        time_budget_s (float | None | Unset):
        token_budget (int | Unset):  Default: 0.
    """

    harness_id: str
    track_id: str
    allowed_imports: list[str] | None | Unset = UNSET
    baseline_source: None | str | Unset = UNSET
    budget_kind: BudgetKind | Unset = UNSET
    description: str | Unset = ""
    device_class: str | Unset = "cpu"
    display_name: str | Unset = ""
    policy: DecisionPolicy | Unset = UNSET
    program: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    time_budget_s: float | None | Unset = UNSET
    token_budget: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        harness_id = self.harness_id

        track_id = self.track_id

        allowed_imports: list[str] | None | Unset
        if isinstance(self.allowed_imports, Unset):
            allowed_imports = UNSET
        elif isinstance(self.allowed_imports, list):
            allowed_imports = self.allowed_imports

        else:
            allowed_imports = self.allowed_imports

        baseline_source: None | str | Unset
        if isinstance(self.baseline_source, Unset):
            baseline_source = UNSET
        else:
            baseline_source = self.baseline_source

        budget_kind: str | Unset = UNSET
        if not isinstance(self.budget_kind, Unset):
            budget_kind = self.budget_kind.value

        description = self.description

        device_class = self.device_class

        display_name = self.display_name

        policy: dict[str, Any] | Unset = UNSET
        if not isinstance(self.policy, Unset):
            policy = self.policy.to_dict()

        program: None | str | Unset
        if isinstance(self.program, Unset):
            program = UNSET
        else:
            program = self.program

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        time_budget_s: float | None | Unset
        if isinstance(self.time_budget_s, Unset):
            time_budget_s = UNSET
        else:
            time_budget_s = self.time_budget_s

        token_budget = self.token_budget

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "harness_id": harness_id,
                "track_id": track_id,
            }
        )
        if allowed_imports is not UNSET:
            field_dict["allowed_imports"] = allowed_imports
        if baseline_source is not UNSET:
            field_dict["baseline_source"] = baseline_source
        if budget_kind is not UNSET:
            field_dict["budget_kind"] = budget_kind
        if description is not UNSET:
            field_dict["description"] = description
        if device_class is not UNSET:
            field_dict["device_class"] = device_class
        if display_name is not UNSET:
            field_dict["display_name"] = display_name
        if policy is not UNSET:
            field_dict["policy"] = policy
        if program is not UNSET:
            field_dict["program"] = program
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if time_budget_s is not UNSET:
            field_dict["time_budget_s"] = time_budget_s
        if token_budget is not UNSET:
            field_dict["token_budget"] = token_budget

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.decision_policy import DecisionPolicy

        d = dict(src_dict)
        harness_id = d.pop("harness_id")

        track_id = d.pop("track_id")

        def _parse_allowed_imports(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                allowed_imports_type_0 = cast(list[str], data)

                return allowed_imports_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        allowed_imports = _parse_allowed_imports(d.pop("allowed_imports", UNSET))

        def _parse_baseline_source(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        baseline_source = _parse_baseline_source(d.pop("baseline_source", UNSET))

        _budget_kind = d.pop("budget_kind", UNSET)
        budget_kind: BudgetKind | Unset
        if isinstance(_budget_kind, Unset):
            budget_kind = UNSET
        else:
            budget_kind = BudgetKind(_budget_kind)

        description = d.pop("description", UNSET)

        device_class = d.pop("device_class", UNSET)

        display_name = d.pop("display_name", UNSET)

        _policy = d.pop("policy", UNSET)
        policy: DecisionPolicy | Unset
        if isinstance(_policy, Unset):
            policy = UNSET
        else:
            policy = DecisionPolicy.from_dict(_policy)

        def _parse_program(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        program = _parse_program(d.pop("program", UNSET))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        def _parse_time_budget_s(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        time_budget_s = _parse_time_budget_s(d.pop("time_budget_s", UNSET))

        token_budget = d.pop("token_budget", UNSET)

        create_track_request = cls(
            harness_id=harness_id,
            track_id=track_id,
            allowed_imports=allowed_imports,
            baseline_source=baseline_source,
            budget_kind=budget_kind,
            description=description,
            device_class=device_class,
            display_name=display_name,
            policy=policy,
            program=program,
            request_id=request_id,
            time_budget_s=time_budget_s,
            token_budget=token_budget,
        )

        create_track_request.additional_properties = d
        return create_track_request

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
