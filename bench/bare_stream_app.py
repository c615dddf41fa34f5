"""The baseline for capacity: what a user would hand-write with bare Celery — a task on the
fleet's broker and settings that waits the model's time to first token, then publishes each
token to Redis pub/sub as it comes (one PUBLISH per token), timed exactly like the fleet's
simulated provider for the same task id."""

from __future__ import annotations

import json
import os
import time

import redis
from celery import Celery

from workers.providers.simulated import env_range, timing

app = Celery("bare", broker=os.environ["FLEET_BROKER_URL"])
app.conf.update(task_serializer="json", accept_content=["json"], task_acks_late=True,
                task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_default_queue="bench.bare", worker_hijack_root_logger=False,
                task_ignore_result=True)
client = redis.Redis.from_url(os.environ["FLEET_REDIS_URL"])
TTFT, RATE, TOKENS = (env_range(f"FLEET_SIM_{name}", 0)
                      for name in ("TTFT_MS", "TOKENS_PER_SECOND", "OUTPUT_TOKENS"))


def _publish(channel: str, seq: int, type_: str, text: str = "") -> None:
    client.publish(channel, json.dumps({"task_id": channel.rpartition(":")[2], "seq": seq,
                                        "type": type_, "data": {"text": text},
                                        "ts": time.time()}))


@app.task(name="bench.stream")  # type: ignore[untyped-decorator]
def stream(task_id: str) -> None:
    timed = timing(task_id, TTFT, RATE, TOKENS)
    channel = f"bench:stream:{task_id}"
    started = time.monotonic()
    _publish(channel, 0, "start")
    time.sleep(timed.ttft_s)
    interval = 1 / timed.tokens_per_second
    for n in range(timed.output_tokens):
        delay = started + timed.ttft_s + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        _publish(channel, n + 1, "chunk", " token")
    _publish(channel, timed.output_tokens + 1, "complete")
