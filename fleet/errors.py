"""Error codes of the fleet (the seed's Appendix B, plus task validation).

Every error carries a stable ``code``, a human ``message`` and a ``recovery`` hint. The message is
the only constructor argument so that Celery's JSON exception serialisation (type name, module,
args) round-trips an error to any caller, including ones without ``fleet`` installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


class FleetError(Exception):
    """Base of all fleet errors."""

    code: ClassVar[str] = "FLEET_000"
    name: ClassVar[str] = "FleetError"
    recovery: ClassVar[str] = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code} {self.name}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "message": self.message,
                "recovery": self.recovery}


class ConfigError(FleetError):
    code = "CONFIG_001"
    name = "InvalidConfig"
    recovery = "Fix the named field in the YAML file or environment variable"


class InvalidTask(FleetError):
    code = "TASK_001"
    name = "InvalidTask"
    recovery = "Validate the payload against `fleet schema` before enqueueing"


class PayloadTooLarge(FleetError):
    code = "TASK_002"
    name = "PayloadTooLarge"
    recovery = "Send less code or raise fleet.maxPayloadBytes"


class TaskTimedOut(FleetError):
    code = "TASK_003"
    name = "TaskTimedOut"
    recovery = "Split the task or raise fleet.taskTimeout"


class TaskCancelled(FleetError):
    code = "TASK_004"
    name = "TaskCancelled"
    recovery = "Submit the task again if its result is still wanted"


class UnknownTask(FleetError):
    code = "TASK_005"
    name = "UnknownTask"
    recovery = "Check the task id: the fleet has no record of it (ids are kept about a day)"


class ModelSelectionFailed(FleetError):
    code = "ROUTER_001"
    name = "ModelSelectionFailed"
    recovery = "Use default model"


class BudgetExceeded(FleetError):
    code = "ROUTER_002"
    name = "BudgetExceeded"
    recovery = "Block request or use cheaper model"


class NoAffordableModel(FleetError):
    code = "ROUTER_003"
    name = "NoAffordableModel"
    recovery = "Increase budget or simplify task"


class UnknownModel(FleetError):
    code = "ROUTER_004"
    name = "UnknownModel"
    recovery = "Use a model listed by `fleet config check`, or drop preferred_model"


class BufferOverflow(FleetError):
    code = "STREAM_001"
    name = "BufferOverflow"
    recovery = "Apply backpressure"


class StreamTimeout(FleetError):
    code = "STREAM_002"
    name = "StreamTimeout"
    recovery = "Retry with synchronous mode"


class ChunkValidationFailed(FleetError):
    code = "STREAM_003"
    name = "ChunkValidationFailed"
    recovery = "Discard chunk and continue"


class ProviderError(FleetError):
    code = "PROVIDER_001"
    name = "ProviderError"
    recovery = "Retry, or fall back to the next model of the selection"


class MissingCredentials(FleetError):
    code = "PROVIDER_002"
    name = "MissingCredentials"
    recovery = "Set the model's API key environment variable, or FLEET_SIMULATE=true"


class CostCalculationFailed(FleetError):
    code = "COST_001"
    name = "CostCalculationFailed"
    recovery = "Use estimated cost"


class BudgetAlertTriggered(FleetError):
    code = "COST_002"
    name = "BudgetAlertTriggered"
    recovery = "Notify administrators"


class ResultParseFailed(FleetError):
    code = "RESULT_001"
    name = "ResultParseFailed"
    recovery = "Retry with the parser's message, then escalate to a stronger model"


class ResultInvalid(FleetError):
    code = "RESULT_002"
    name = "ResultInvalid"
    recovery = "Retry with the validator's message, then escalate to a stronger model"


ALL_ERRORS: tuple[type[FleetError], ...] = (
    ConfigError, InvalidTask, PayloadTooLarge, TaskTimedOut, ModelSelectionFailed, BudgetExceeded,
    NoAffordableModel, UnknownModel, BufferOverflow, StreamTimeout, ChunkValidationFailed,
    ProviderError, MissingCredentials, CostCalculationFailed, BudgetAlertTriggered,
    ResultParseFailed, ResultInvalid,
)


def describe_invalid(exc: ValidationError, limit: int = 3, root: str = "(payload)") -> str:
    """The first ``limit`` problems of a validation error as one line, naming each field."""
    parts = [f"field {'.'.join(str(p) for p in err['loc']) or root}: {err['msg']}"
             for err in exc.errors()[:limit]]
    more = f" (and {exc.error_count() - limit} more)" if exc.error_count() > limit else ""
    return "; ".join(parts) + more
