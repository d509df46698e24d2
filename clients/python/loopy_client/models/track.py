from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.budget_kind import BudgetKind
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.decision_policy import DecisionPolicy
    from ..models.error_budget import ErrorBudget


T = TypeVar("T", bound="Track")


@_attrs_define
class Track:
    """
    Attributes:
        allowed_imports (list[str]):
        baseline_revision (str):
        create_time (datetime.datetime):
        creator_agent_id (str):
        description (str):
        device_class (str):
        display_name (str):
        harness_id (str):
        head_revision (str):
        head_run_id (None | str):
        id (str):
        noise_samples (int):
        noise_std (float | None):
        policy (DecisionPolicy):
        program (str):
        time_budget_s (float):
        update_time (datetime.datetime):
        budget_kind (BudgetKind | Unset):
        error_budget (ErrorBudget | None | Unset):
        fdr_tests (int | Unset):  Default: 0.
        head_version (int | Unset):  Default: 0.
        token_budget (int | Unset):  Default: 0.
    """

    allowed_imports: list[str]
    baseline_revision: str
    create_time: datetime.datetime
    creator_agent_id: str
    description: str
    device_class: str
    display_name: str
    harness_id: str
    head_revision: str
    head_run_id: None | str
    id: str
    noise_samples: int
    noise_std: float | None
    policy: DecisionPolicy
    program: str
    time_budget_s: float
    update_time: datetime.datetime
    budget_kind: BudgetKind | Unset = UNSET
    error_budget: ErrorBudget | None | Unset = UNSET
    fdr_tests: int | Unset = 0
    head_version: int | Unset = 0
    token_budget: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_budget import ErrorBudget

        allowed_imports = self.allowed_imports

        baseline_revision = self.baseline_revision

        create_time = self.create_time.isoformat()

        creator_agent_id = self.creator_agent_id

        description = self.description

        device_class = self.device_class

        display_name = self.display_name

        harness_id = self.harness_id

        head_revision = self.head_revision

        head_run_id: None | str
        head_run_id = self.head_run_id

        id = self.id

        noise_samples = self.noise_samples

        noise_std: float | None
        noise_std = self.noise_std

        policy = self.policy.to_dict()

        program = self.program

        time_budget_s = self.time_budget_s

        update_time = self.update_time.isoformat()

        budget_kind: str | Unset = UNSET
        if not isinstance(self.budget_kind, Unset):
            budget_kind = self.budget_kind.value

        error_budget: dict[str, Any] | None | Unset
        if isinstance(self.error_budget, Unset):
            error_budget = UNSET
        elif isinstance(self.error_budget, ErrorBudget):
            error_budget = self.error_budget.to_dict()
        else:
            error_budget = self.error_budget

        fdr_tests = self.fdr_tests

        head_version = self.head_version

        token_budget = self.token_budget

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "allowed_imports": allowed_imports,
                "baseline_revision": baseline_revision,
                "create_time": create_time,
                "creator_agent_id": creator_agent_id,
                "description": description,
                "device_class": device_class,
                "display_name": display_name,
                "harness_id": harness_id,
                "head_revision": head_revision,
                "head_run_id": head_run_id,
                "id": id,
                "noise_samples": noise_samples,
                "noise_std": noise_std,
                "policy": policy,
                "program": program,
                "time_budget_s": time_budget_s,
                "update_time": update_time,
            }
        )
        if budget_kind is not UNSET:
            field_dict["budget_kind"] = budget_kind
        if error_budget is not UNSET:
            field_dict["error_budget"] = error_budget
        if fdr_tests is not UNSET:
            field_dict["fdr_tests"] = fdr_tests
        if head_version is not UNSET:
            field_dict["head_version"] = head_version
        if token_budget is not UNSET:
            field_dict["token_budget"] = token_budget

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.decision_policy import DecisionPolicy
        from ..models.error_budget import ErrorBudget

        d = dict(src_dict)
        allowed_imports = cast(list[str], d.pop("allowed_imports"))

        baseline_revision = d.pop("baseline_revision")

        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        creator_agent_id = d.pop("creator_agent_id")

        description = d.pop("description")

        device_class = d.pop("device_class")

        display_name = d.pop("display_name")

        harness_id = d.pop("harness_id")

        head_revision = d.pop("head_revision")

        def _parse_head_run_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        head_run_id = _parse_head_run_id(d.pop("head_run_id"))

        id = d.pop("id")

        noise_samples = d.pop("noise_samples")

        def _parse_noise_std(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        noise_std = _parse_noise_std(d.pop("noise_std"))

        policy = DecisionPolicy.from_dict(d.pop("policy"))

        program = d.pop("program")

        time_budget_s = d.pop("time_budget_s")

        update_time = datetime.datetime.fromisoformat(d.pop("update_time"))

        _budget_kind = d.pop("budget_kind", UNSET)
        budget_kind: BudgetKind | Unset
        if isinstance(_budget_kind, Unset):
            budget_kind = UNSET
        else:
            budget_kind = BudgetKind(_budget_kind)

        def _parse_error_budget(data: object) -> ErrorBudget | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_budget_type_0 = ErrorBudget.from_dict(data)

                return error_budget_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorBudget | None | Unset, data)

        error_budget = _parse_error_budget(d.pop("error_budget", UNSET))

        fdr_tests = d.pop("fdr_tests", UNSET)

        head_version = d.pop("head_version", UNSET)

        token_budget = d.pop("token_budget", UNSET)

        track = cls(
            allowed_imports=allowed_imports,
            baseline_revision=baseline_revision,
            create_time=create_time,
            creator_agent_id=creator_agent_id,
            description=description,
            device_class=device_class,
            display_name=display_name,
            harness_id=harness_id,
            head_revision=head_revision,
            head_run_id=head_run_id,
            id=id,
            noise_samples=noise_samples,
            noise_std=noise_std,
            policy=policy,
            program=program,
            time_budget_s=time_budget_s,
            update_time=update_time,
            budget_kind=budget_kind,
            error_budget=error_budget,
            fdr_tests=fdr_tests,
            head_version=head_version,
            token_budget=token_budget,
        )

        track.additional_properties = d
        return track

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
