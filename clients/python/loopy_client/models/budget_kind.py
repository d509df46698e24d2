from enum import StrEnum


class BudgetKind(StrEnum):
    TOKENS = "TOKENS"
    WALL_SECONDS = "WALL_SECONDS"

    def __str__(self) -> str:
        return str(self.value)
