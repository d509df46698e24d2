from enum import StrEnum


class PatchFormat(StrEnum):
    FULL_SOURCE = "FULL_SOURCE"
    SEARCH_REPLACE = "SEARCH_REPLACE"
    UNIFIED_DIFF = "UNIFIED_DIFF"

    def __str__(self) -> str:
        return str(self.value)
