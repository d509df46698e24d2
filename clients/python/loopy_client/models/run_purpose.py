from enum import StrEnum


class RunPurpose(StrEnum):
    CALIBRATION = "CALIBRATION"
    EXPERIMENT = "EXPERIMENT"
    REPLICATE = "REPLICATE"

    def __str__(self) -> str:
        return str(self.value)
