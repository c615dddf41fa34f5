"""StreamRelay and StreamPublisher: the producer side of the stream protocol.

Each task's :class:`StreamPublisher` numbers its events (seq 0, 1, 2 … with no gaps) and hands
them to the process-wide :class:`StreamRelay`, one thread that writes them to Redis in batches
(pipelined calls of ``publish.lua``: XADD to the replay log, then PUBLISH, atomically and
idempotently per event). Batching across all streams of a worker process is what lets one process
relay tens of thousands of chunks a second.

The relay also carries fire-and-forget commands (:meth:`StreamRelay.send_later`: a task's
``cost.tracked`` event, the release of its lease) in the same pipeline as the events before
them, so a task does not wait a round trip for each.

Backpressure: a publisher may have at most ``bufferSize`` unwritten events; at
``backpressureThreshold`` of that the producer (the task thread reading the model's stream) waits
for the relay, so a slow Redis throttles the model read instead of growing memory. Waiting longer
than the stream timeout raises STREAM_001. While Redis is unreachable the relay retries with
backoff and nothing is dropped.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import redis
from redis.commands.core import Script

from fleet.backends import keys
from fleet.backends.redis import publish_command
from fleet.backends.replication import Replication
from fleet.contracts import FINAL_EVENTS, EventType
from fleet.errors import BufferOverflow
from fleet.streaming.chunker import Chunker
from fleet.streaming.subscribe import LOG_TTL_SECONDS, last_logged

log = logging.getLogger("fleet.relay")

BATCH_EVENTS = 512
# How long a command sent with nothing else to write waits for events to ride with.
COMMAND_LINGER_SECONDS = 0.005
# When held text could not be flushed (its producer held the buffer, or the stream is
# backlogged), how soon the relay looks again.
HELD_RETRY_SECONDS = 0.005


def _encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class StreamRelay:
    """One writer thread per process, shared by every stream of that process."""

    def __init__(self, client: redis.Redis, publish: Script,
                 replication: Replication | None = None) -> None:
        """``replication``: whom a batch must reach before it counts as written."""
        self.client = client
        self.replication = replication or Replication(client, 0, 0)
        self._publish = publish  # publish.lua
        self._publish_command = publish_command(client)
        self._loaded = False
        self._queue: deque[_Event | _Command] = deque()
        self._queued_events = 0
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # the relay thread waits on it for work
        self._idle = threading.Condition(lock)  # drain() waits on it for the queue to empty
        # Publishers with text waiting in their buffer, by when it is due (a heap): the relay
        # visits only those whose text is due, however many streams the process carries.
        self._due: list[tuple[float, int, StreamPublisher]] = []
        self._holding: set[StreamPublisher] = set()
        self._order = itertools.count()
        self._in_flight = 0  # events taken from the queue and not yet written
        self._thread = threading.Thread(target=self._run, name="fleet-stream-relay", daemon=True)
        self._thread.start()

    def hold(self, publisher: StreamPublisher) -> None:
        """``publisher`` has buffered text: flush it when due."""
        with self._cond:
            if publisher not in self._holding:
                self._holding.add(publisher)
                publisher.held = True
                self._hold_until(publisher.chunker.due_at, publisher)
                self._cond.notify()

    def _hold_until(self, due: float, publisher: StreamPublisher) -> None:
        heapq.heappush(self._due, (due, next(self._order), publisher))

    def _take_due(self) -> list[StreamPublisher]:
        """The held publishers whose text is due now (the lock is held)."""
        now, due = time.monotonic(), []
        while self._due and self._due[0][0] <= now:
            due.append(heapq.heappop(self._due)[2])
        return due

    def submit(self, publisher: StreamPublisher, seq: int, payload: str) -> None:
        with self._cond:
            self._queue.append(_Event(publisher, seq, payload))
            self._queued_events += 1
            self._cond.notify()

    def send_later(self, *command: str | int,
                   on_reply: Callable[[Any], None] | None = None) -> None:
        """A Redis command to run after every event submitted before it is written, in the
        same pipeline as the next events (or alone after ``COMMAND_LINGER_SECONDS``). While
        Redis is away it is retried with its batch, so it runs at least once: send only
        commands that may run twice (an idempotent script, an event with an id).

        ``on_reply`` gets the command's reply (the error, when Redis refused it) on the relay
        thread, before the events written with it count as written: a task waiting for its
        final event finds the reply of every command it sent before it.

        An argument Redis cannot take raises TypeError here: in the batch it would fail every
        retry of every stream's events with it."""
        bad = [arg for arg in command if isinstance(arg, bool) or not isinstance(arg, str | int)]
        if bad or not command:
            raise TypeError(f"a relayed Redis command takes str and int arguments, not {bad!r}")
        with self._cond:
            if not self._queue:  # the relay may be asleep until something arrives
                self._cond.notify()
            self._queue.append(_Command(command, on_reply))

    def _run(self) -> None:
        backoff = 0.05
        while True:
            with self._cond:
                if self._in_flight:  # the last batch is written (one lock round per batch)
                    self._in_flight = 0
                    self._idle.notify_all()
                if not self._queue:
                    # Idle: sleep until something arrives, or until held text is due.
                    self._cond.wait(timeout=max(self._due[0][0] - time.monotonic(), 0.0)
                                    if self._due else None)
                if self._queue and not self._queued_events:
                    # Only commands: they wait a moment for events to ride with.
                    self._cond.wait(timeout=COMMAND_LINGER_SECONDS)
                batch = [self._queue.popleft() for _ in range(min(len(self._queue),
                                                                  BATCH_EVENTS))]
                self._queued_events -= sum(isinstance(item, _Event) for item in batch)
                self._in_flight = len(batch)
                due = self._take_due()
            if due:
                still = {p for p in due if p.flush_due_text()}
                with self._cond:
                    for publisher in due:
                        # Cleared before the check: text added after the check finds it
                        # cleared and holds itself again (add_text).
                        publisher.held = False
                        if publisher.chunker.pending:  # text added since, or not flushed yet
                            publisher.held = True
                            self._hold_until(max(publisher.chunker.due_at,
                                                 time.monotonic() + HELD_RETRY_SECONDS)
                                             if publisher in still else
                                             publisher.chunker.due_at, publisher)
                        else:
                            self._holding.discard(publisher)
            if not batch:
                continue
            while True:
                try:
                    replies = self._write(batch)
                    backoff = 0.05
                    break
                except redis.RedisError as exc:
                    log.warning("stream relay: Redis write failed (%s); retrying", exc)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
            for command, reply in replies:
                if command.on_reply is None:
                    continue
                try:
                    command.on_reply(reply)
                except Exception:  # a caller's bug must not stop every stream of the process
                    log.exception("stream relay: reply handler of %s failed", command.args[0])
            for item in batch:
                if isinstance(item, _Event):
                    item.publisher.written(item.seq)

    def drain(self, timeout: float) -> bool:
        """Wait until every event handed to the relay is in Redis (True) or ``timeout``
        seconds pass (False). A task retried after a Redis outage calls it first, so the
        events of its interrupted attempt cannot land after the next attempt's."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _write(self, batch: list[_Event | _Command]) -> list[tuple[_Command, Any]]:
        """Writes the batch; returns its commands with their replies."""
        if not self._loaded:
            self.client.script_load(self._publish.script)
            self._loaded = True
        # EVALSHA directly: redis-py's Script objects add a SCRIPT EXISTS round trip to
        # every pipeline.
        calls: list[list[Any]] = []
        commands: dict[int, _Command] = {}  # by call: their errors are not retried
        stream: StreamPublisher | None = None  # whose events the last call is adding
        for item in batch:
            if isinstance(item, _Command):
                commands[len(calls)] = item
                calls.append(list(item.args))
                stream = None
            elif item.publisher is stream:  # consecutive events of one stream: one call
                calls[-1] += [item.seq, item.payload]
            else:
                stream = item.publisher
                calls.append(["EVALSHA", self._publish.sha, 1, keys.stream_log(stream.task_id),
                              keys.stream_channel(stream.task_id), LOG_TTL_SECONDS,
                              self._publish_command, item.seq, item.payload])
        replies: list[Any]
        if len(calls) == 1:  # the common case at low load: one round trip, no pipeline
            try:
                replies = [self.client.execute_command(*calls[0])]  # type: ignore[no-untyped-call]
            except redis.ResponseError as exc:
                replies = [exc]
        else:
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command(*call)  # type: ignore[no-untyped-call]
            replies = pipe.execute(raise_on_error=False)
        for i, reply in enumerate(replies):
            if not isinstance(reply, Exception):
                continue
            if i in commands:  # a command Redis refuses would be refused again: logged
                log.warning("stream relay: %s refused: %s", calls[i][0], reply)
                continue
            if isinstance(reply, redis.exceptions.NoScriptError):
                self._loaded = False  # Redis restarted or flushed its scripts: load again
            raise reply  # the batch is written again (its events are idempotent)
        if self.replication.replicas:  # the keys are looked for only when there is a wait
            self.replication.wait(_written_keys(calls))
        return [(command, replies[i]) for i, command in commands.items()]


def _written_keys(calls: list[list[Any]]) -> list[str]:
    """The keys a batch's calls wrote (a script's declared keys, else a command's first)."""
    written = []
    for call in calls:
        if call[0] in ("EVAL", "EVALSHA"):
            written += [str(key) for key in call[3:3 + int(call[2])]]
        elif call[0] != "PUBLISH" and len(call) > 1:
            written.append(str(call[1]))
    return written


class _Event(NamedTuple):
    publisher: StreamPublisher
    seq: int
    payload: str


class _Command(NamedTuple):
    args: tuple[str | int, ...]
    on_reply: Callable[[Any], None] | None


class StreamPublisher:
    """One task's events, numbered without gaps and relayed in order."""

    def __init__(self, task_id: str, model: str, relay: StreamRelay, *,
                 chunker: Chunker | None = None, buffer_size: int = 1024,
                 backpressure_threshold: float = 0.8, timeout_s: float = 30.0,
                 last_event: dict[str, Any] | None = None, log_read: bool = False,
                 cancelled: Callable[[], bool] = lambda: False) -> None:
        """``log_read``: the caller already read the stream's last logged event (``last_event``,
        None for a new stream); otherwise it is read here. ``cancelled``: whether the task was
        cancelled, so its producer stops (fleet.dispatch.cancel)."""
        self.task_id = task_id
        self.cancelled = cancelled
        self.model = model
        self._relay = relay
        self.chunker = chunker or Chunker()
        self.high_water = max(1, int(buffer_size * backpressure_threshold))
        self.timeout_s = timeout_s
        self.chunks = 0
        self.backpressure_waits = 0  # times the producer waited for the relay (buffer full)
        self.buffer_size = buffer_size
        self.peak_pending = 0  # most events at once not yet in Redis
        self.first_chunk_at: float | None = None  # monotonic time of the first chunk
        last = last_event if log_read else last_logged(relay.client, task_id)
        self.next_seq = int(last["seq"]) + 1 if last else 0
        self.finished = bool(last and last["type"] in FINAL_EVENTS)
        self._pending: set[int] = set()
        self._cond = threading.Condition()
        self._text_lock = threading.RLock()
        self.held = False  # the relay holds this publisher's buffered text (its flag)

    # --- producer side -----------------------------------------------------------------------

    def emit(self, type_: EventType, data: dict[str, Any] | None = None) -> None:
        if type_ != "chunk":
            self.flush_text()  # text buffered before a non-chunk event goes first
        self._emit(type_, data, wait=True)

    def _emit(self, type_: EventType, data: dict[str, Any] | None, wait: bool) -> None:
        with self._cond:
            if wait:
                self._wait_below(self.high_water)
            seq = self.next_seq
            # StreamEvent's fields in its order, built as a dict: one per chunk, so cheap.
            event = {"task_id": self.task_id, "seq": seq, "type": type_, "model": self.model,
                     "data": data or {}, "ts": time.time()}
            self.next_seq += 1
            self._pending.add(seq)
            self.peak_pending = max(self.peak_pending, len(self._pending))
            self._relay.submit(self, seq, _encode(event))
        if type_ in FINAL_EVENTS:
            self.finished = True
            self.wait_written()

    def add_text(self, delta: object) -> None:
        """A model's text delta; becomes a chunk event when the chunker says so."""
        with self._text_lock:  # taking text from the buffer and numbering it are one step
            self._send_text(self.chunker.add(delta), wait=True)
            # The relay's lock only when the text is not already held for it.
            if self.chunker.pending and not self.held:
                self._relay.hold(self)

    def flush_text(self) -> None:
        with self._text_lock:
            self._send_text(self.chunker.flush(), wait=True)

    def flush_due_text(self) -> bool:
        """Called by the relay between batches, so text never waits in the buffer for long.
        Never blocks: the relay must not wait on itself. True while text is still buffered."""
        if not self._text_lock.acquire(blocking=False):
            return True
        try:
            if len(self._pending) < self.high_water:
                self._send_text(self.chunker.due(), wait=False)
            return self.chunker.pending
        finally:
            self._text_lock.release()

    def _send_text(self, chunk: str | None, wait: bool) -> None:
        if chunk:
            self.chunks += 1
            if self.first_chunk_at is None:
                self.first_chunk_at = time.monotonic()
            self._emit("chunk", {"text": chunk}, wait)

    def backlogged(self) -> bool:
        """Whether the next delta could make the producer wait for the relay (it may add a
        chunk and a progress event): a producer that must not block waits before it instead."""
        pending = len(self._pending)
        return pending > 0 and pending + 2 >= self.high_water

    def wait_written(self, timeout: float | None = None) -> None:
        """Block until every emitted event is in Redis."""
        with self._cond:
            self._wait_below(1, timeout, backpressure=False)

    def _wait_below(self, limit: int, timeout: float | None = None,
                    backpressure: bool = True) -> None:
        if len(self._pending) < limit:
            return
        self.backpressure_waits += backpressure
        deadline = time.monotonic() + (self.timeout_s if timeout is None else timeout)
        while len(self._pending) >= limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BufferOverflow(f"stream {self.task_id}: {len(self._pending)} events not "
                                     f"written to Redis within {self.timeout_s}s")
            self._cond.wait(remaining)

    # --- relay side --------------------------------------------------------------------------

    def written(self, seq: int) -> None:
        with self._cond:
            self._pending.discard(seq)
            self._cond.notify_all()
