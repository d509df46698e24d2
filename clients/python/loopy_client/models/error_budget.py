from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ErrorBudget")


@_attrs_define
class ErrorBudget:
    """
    Attributes:
        alpha (float):
        discoveries (int):
        earned (float):
        next_level (float):
        remaining (float):
        rule (str):
        spent (float):
        tests (int):
    """

    alpha: float
    discoveries: int
    earned: float
    next_level: float
    remaining: float
    rule: str
    spent: float
    tests: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alpha = self.alpha

        discoveries = self.discoveries

        earned = self.earned

        next_level = self.next_level

        remaining = self.remaining

        rule = self.rule

        spent = self.spent

        tests = self.tests

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alpha": alpha,
                "discoveries": discoveries,
                "earned": earned,
                "next_level": next_level,
                "remaining": remaining,
                "rule": rule,
                "spent": spent,
                "tests": tests,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        alpha = d.pop("alpha")

        discoveries = d.pop("discoveries")

        earned = d.pop("earned")

        next_level = d.pop("next_level")

        remaining = d.pop("remaining")

        rule = d.pop("rule")

        spent = d.pop("spent")

        tests = d.pop("tests")

        error_budget = cls(
            alpha=alpha,
            discoveries=discoveries,
            earned=earned,
            next_level=next_level,
            remaining=remaining,
            rule=rule,
            spent=spent,
            tests=tests,
        )

        error_budget.additional_properties = d
        return error_budget

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
