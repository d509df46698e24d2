from enum import StrEnum


class FailureReason(StrEnum):
    CONTRACT = "CONTRACT"
    CRASH = "CRASH"
    DIVERGED = "DIVERGED"
    INFRASTRUCTURE = "INFRASTRUCTURE"
    INTEGRITY = "INTEGRITY"
    OOM = "OOM"
    SANDBOX_UNAVAILABLE = "SANDBOX_UNAVAILABLE"
    SANDBOX_VIOLATION = "SANDBOX_VIOLATION"
    TIMEOUT = "TIMEOUT"
    WORKER_LOST = "WORKER_LOST"

    def __str__(self) -> str:
        return str(self.value)
