"""A typed client for other Python services: submit a QE task to the fleet's dispatcher, follow
its stream, read its checked result, cancel it. It needs the broker and Redis only (routing and
the budget reservation happen in the dispatcher, so no PostgreSQL credentials).

    client = fleet.Client()                        # FLEET_BROKER_URL / FLEET_REDIS_URL
    handle = client.submit({"type": "test-generation", "description": "Tests for slugify()",
                            "code": source, "language": "python"})
    for event in handle.stream():                  # start, chunk…, complete
        ...
    outcome = handle.result(timeout=120)           # the type's result model, validated
    outcome.result.test_file.content
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from celery import Celery
from pydantic import BaseModel

from fleet import errors
from fleet.backends.redis import celery_url, connect
from fleet.contracts import QETask, StreamEvent
from fleet.dispatch.intake import parse_task
from fleet.qe.results import SPECS
from fleet.services import Services, get_config, get_settings
from fleet.streaming.subscribe import asubscribe, subscribe

DISPATCH = "fleet.dispatch"


@dataclass(frozen=True)
class Outcome:
    """A finished task: the model that answered, its text, its validated result (an instance
    of the task type's result model; None for a type without one) and what it cost."""

    task_id: str
    model: str
    text: str
    result: BaseModel | None
    valid: bool | None
    cost_usd: Decimal
    data: dict[str, Any] = field(repr=False)  # the whole complete event


def _raise(data: dict[str, Any]) -> None:
    """The fleet error a final ``error`` event carries, as its own class when known."""
    code = str(data.get("code", ""))
    classes = {cls.code: cls for cls in _subclasses(errors.FleetError)}
    raise classes.get(code, errors.FleetError)(str(data.get("message", "")))


def _subclasses(cls: type[errors.FleetError]) -> list[type[errors.FleetError]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def _outcome(task: QETask, events: list[StreamEvent]) -> Outcome:
    final = events[-1]
    if final.type == "error":
        _raise(final.data)
    data = final.data
    spec = SPECS.get(task.type)
    raw = data.get("result")
    text = data.get("text") or "".join(str(e.data.get("text", "")) for e in events
                                       if e.type == "chunk")
    return Outcome(task.id, final.model, text,
                   spec.result.model_validate(raw) if spec is not None and raw else None,
                   data.get("valid"), Decimal(str(data.get("cost_usd", "0"))), data)


class _Base:
    def __init__(self, broker_url: str | None = None, redis_url: str | None = None) -> None:
        settings = get_settings()
        self.broker_url = broker_url or settings.fleet_broker_url
        self.redis_url = redis_url or settings.fleet_redis_url
        broker, transport = celery_url(self.broker_url)
        self._celery = Celery("fleet-client", broker=broker)
        self._celery.conf.update(task_serializer="json", accept_content=["json"],
                                 broker_transport_options=transport)
        self._services = Services(get_config(), settings.model_copy(
            update={"fleet_redis_url": self.redis_url, "fleet_broker_url": self.broker_url}))

    def _send(self, task: QETask | dict[str, Any]) -> QETask:
        qe = task if isinstance(task, QETask) else parse_task(
            task, self._services.config.fleet.max_payload_bytes)
        self._celery.send_task(DISPATCH, kwargs={"task": qe.model_dump(mode="json")},
                               queue=DISPATCH, priority=qe.priority)
        return qe

    def _cancel(self, task_id: str) -> str:
        from fleet.dispatch.cancel import cancel_task

        return cancel_task(self._services, task_id, "cancelled by its client")


class TaskHandle:
    def __init__(self, client: Client, task: QETask) -> None:
        self.client, self.task, self.id = client, task, task.id

    def stream(self, after_seq: int = -1, timeout: float | None = None
               ) -> Iterator[StreamEvent]:
        """The task's events in order, each once, to the final one (``timeout``: the longest
        silence waited for)."""
        yield from subscribe(self.client.redis, self.id, after_seq, timeout=timeout)

    def result(self, timeout: float | None = None) -> Outcome:
        """The finished task (waiting for it); its error as a FleetError when it failed."""
        return _outcome(self.task, list(self.stream(timeout=timeout)))

    def cancel(self) -> str:
        """Cancel the task: ``ended``, ``running`` (it stops within a second) or ``finished``."""
        return self.client._cancel(self.id)


class Client(_Base):
    """Synchronous client; ``submit`` returns a :class:`TaskHandle`."""

    def __init__(self, broker_url: str | None = None, redis_url: str | None = None) -> None:
        super().__init__(broker_url, redis_url)
        self.redis = connect(self.redis_url, get_settings().fleet_redis_retries)

    def submit(self, task: QETask | dict[str, Any]) -> TaskHandle:
        """Validate ``task`` here (TASK_001 / TASK_002 at once) and send it to the dispatcher."""
        return TaskHandle(self, self._send(task))


class AsyncTaskHandle:
    def __init__(self, client: AsyncClient, task: QETask) -> None:
        self.client, self.task, self.id = client, task, task.id

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self.events()

    async def events(self, after_seq: int = -1, timeout: float | None = None
                     ) -> AsyncIterator[StreamEvent]:
        async for event in asubscribe(self.client.redis_url, self.id, after_seq,
                                      timeout=timeout):
            yield event

    async def result(self, timeout: float | None = None) -> Outcome:
        return _outcome(self.task, [event async for event in self.events(timeout=timeout)])

    async def cancel(self) -> str:
        import anyio

        return await anyio.to_thread.run_sync(self.client._cancel, self.id)


class AsyncClient(_Base):
    """The asyncio client: ``await client.submit(task)``, ``async for event in handle``."""

    async def submit(self, task: QETask | dict[str, Any]) -> AsyncTaskHandle:
        import anyio

        return AsyncTaskHandle(self, await anyio.to_thread.run_sync(self._send, task))
