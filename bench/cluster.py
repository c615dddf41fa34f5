"""What the stream relay writes a second on one Redis, on a 3-master Redis Cluster, and with
``WAIT`` for a replica (FLEET_REDIS_WAIT_REPLICAS=1) on each: the price of spreading the fleet's
state and of replicated writes, A/B in one run on throwaway servers.

    python -m bench.cluster [EVENTS] [STREAMS] [ROUNDS]

One process, one relay, ``STREAMS`` publishers emitting ``EVENTS`` chunk events between them
from as many threads; events/s is from the first emit to the last event written. On this
2-core box the cluster's masters share the cores the relay runs on, so the cluster rows show
the client's cost of a cluster (routing, a pipeline per master), not its capacity.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from fleet.backends.redis import connect
from fleet.backends.replication import Replication
from fleet.backends.scripts import Scripts
from fleet.streaming.relay import StreamPublisher, StreamRelay
from tests.harness import free_port, wait_redis
from tests.redis_cluster import LocalCluster


@contextmanager
def single(replica: bool) -> Iterator[str]:
    """A throwaway redis-server (and its replica), its URL."""
    port = free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs = [subprocess.Popen(["redis-server", "--port", str(port), *common],
                              stdout=subprocess.DEVNULL)]
    if replica:
        replica_port = free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(replica_port), *common,
                                       "--replicaof", "127.0.0.1", str(port)],
                                      stdout=subprocess.DEVNULL))
        replica_client: Any = redis.Redis(port=replica_port)
        wait_redis(lambda: replica_client.info("replication")["master_link_status"] == "up",
             "the replica")
    wait_redis(lambda: redis.Redis(port=port).ping(), "redis")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@contextmanager
def cluster() -> Iterator[str]:
    local = LocalCluster()
    try:
        yield local.url
    finally:
        local.stop()


def relay_rate(url: str, replicas: int, events: int, streams: int) -> float:
    """Chunk events a second through one relay to ``url``."""
    client = connect(url, 20)
    relay = StreamRelay(client, Scripts(client)["publish"], Replication(client, replicas, 1000))
    run = f"{time.monotonic_ns():x}"
    publishers = [StreamPublisher(f"bench-{run}-{i}", "m", relay, log_read=True)
                  for i in range(streams)]
    per_stream = events // streams

    def produce(publisher: StreamPublisher) -> None:
        for _ in range(per_stream):
            publisher.emit("chunk", {"text": "token "})

    threads = [threading.Thread(target=produce, args=(p,)) for p in publishers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert relay.drain(120), "the relay did not catch up"
    return per_stream * streams / (time.perf_counter() - started)


SETUPS: dict[str, tuple[Callable[[], Any], int]] = {
    "one Redis": (lambda: single(False), 0),
    "one Redis + replica, WAIT 1": (lambda: single(True), 1),
    "3-master cluster": (cluster, 0),
    "3-master cluster, WAIT 1": (cluster, 1),
}


def main(events: int = 40_000, streams: int = 40, rounds: int = 2) -> dict[str, float]:
    rates: dict[str, list[float]] = {name: [] for name in SETUPS}
    for _ in range(rounds):  # interleaved: the box's noise falls on every setup alike
        for name, (setup, replicas) in SETUPS.items():
            with setup() as url:
                rates[name].append(relay_rate(url, replicas, events, streams))
    result = {name: statistics.median(values) for name, values in rates.items()}
    base = result["one Redis"]
    for name, rate in result.items():
        print(f"{name:32} {rate:9,.0f} events/s  {rate / base:5.2f} x one Redis  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates[name])})")
    return result


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
