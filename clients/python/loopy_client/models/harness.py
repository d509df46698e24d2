from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.harness_files import HarnessFiles


T = TypeVar("T", bound="Harness")


@_attrs_define
class Harness:
    """
    Attributes:
        bos_token_id (int):
        create_time (datetime.datetime):
        description (str):
        eval_tokens (int):
        files (HarnessFiles):
        id (str):
        metric (str):
        seq_len (int):
        size_bytes (int):
        time_budget_s (float):
        vocab_size (int):
    """

    bos_token_id: int
    create_time: datetime.datetime
    description: str
    eval_tokens: int
    files: HarnessFiles
    id: str
    metric: str
    seq_len: int
    size_bytes: int
    time_budget_s: float
    vocab_size: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        bos_token_id = self.bos_token_id

        create_time = self.create_time.isoformat()

        description = self.description

        eval_tokens = self.eval_tokens

        files = self.files.to_dict()

        id = self.id

        metric = self.metric

        seq_len = self.seq_len

        size_bytes = self.size_bytes

        time_budget_s = self.time_budget_s

        vocab_size = self.vocab_size

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "bos_token_id": bos_token_id,
                "create_time": create_time,
                "description": description,
                "eval_tokens": eval_tokens,
                "files": files,
                "id": id,
                "metric": metric,
                "seq_len": seq_len,
                "size_bytes": size_bytes,
                "time_budget_s": time_budget_s,
                "vocab_size": vocab_size,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.harness_files import HarnessFiles

        d = dict(src_dict)
        bos_token_id = d.pop("bos_token_id")

        create_time = datetime.datetime.fromisoformat(d.pop("create_time"))

        description = d.pop("description")

        eval_tokens = d.pop("eval_tokens")

        files = HarnessFiles.from_dict(d.pop("files"))

        id = d.pop("id")

        metric = d.pop("metric")

        seq_len = d.pop("seq_len")

        size_bytes = d.pop("size_bytes")

        time_budget_s = d.pop("time_budget_s")

        vocab_size = d.pop("vocab_size")

        harness = cls(
            bos_token_id=bos_token_id,
            create_time=create_time,
            description=description,
            eval_tokens=eval_tokens,
            files=files,
            id=id,
            metric=metric,
            seq_len=seq_len,
            size_bytes=size_bytes,
            time_budget_s=time_budget_s,
            vocab_size=vocab_size,
        )

        harness.additional_properties = d
        return harness

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
