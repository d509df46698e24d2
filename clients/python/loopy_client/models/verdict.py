from enum import StrEnum


class Verdict(StrEnum):
    DISCARD = "DISCARD"
    INCONCLUSIVE = "INCONCLUSIVE"
    KEEP = "KEEP"

    def __str__(self) -> str:
        return str(self.value)
