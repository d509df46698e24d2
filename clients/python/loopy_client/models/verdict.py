from enum import StrEnum


class Verdict(StrEnum):
    CONFOUNDED = "CONFOUNDED"
    DISCARD = "DISCARD"
    EQUIVALENT = "EQUIVALENT"
    INCONCLUSIVE = "INCONCLUSIVE"
    KEEP = "KEEP"

    def __str__(self) -> str:
        return str(self.value)
