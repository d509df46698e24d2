from enum import StrEnum


class EvaluationState(StrEnum):
    DONE = "DONE"
    FAILED = "FAILED"
    PENDING = "PENDING"

    def __str__(self) -> str:
        return str(self.value)
