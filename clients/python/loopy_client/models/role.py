from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"

    def __str__(self) -> str:
        return str(self.value)
