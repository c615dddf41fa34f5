"""Redis behind Sentinel: the fleet (its state, Celery's broker and results) follows a
``redis+sentinel://`` URL, and keeps serving after Sentinel promotes the replica of a master
that was killed — the tasks finished before the kill are still there, and new ones run.

The kill comes once the replica has every write (``WAIT``): with asynchronous replication the
writes of a master's last milliseconds may be lost, which docs/scaling.md discusses."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fleet.backends import keys
from fleet.streaming.subscribe import read_log
from tests.fixtures import WorkerProcess
from tests.harness import free_port, wait_redis

pytestmark = pytest.mark.integration

SERVICE = "fleetmaster"
FAST = {"FLEET_SIM_TTFT_MS": "0", "FLEET_SIM_TOKENS_PER_SECOND": "400",
        "FLEET_SIM_OUTPUT_TOKENS": "40"}


def _pairs(reply: Any) -> list[dict[str, str]]:
    """SENTINEL replicas' reply (flat name/value lists) as dicts."""
    out = []
    for entry in reply:
        if isinstance(entry, dict):
            out.append({str(k): str(v) for k, v in entry.items()})
            continue
        items = [x.decode() if isinstance(x, bytes) else str(x) for x in entry]
        out.append(dict(zip(items[::2], items[1::2], strict=True)))
    return out


class SentinelGroup:
    """A master, its replica and one sentinel watching them, on spare loopback ports."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-sentinel-"))
        self.master_port, self.replica_port, self.port = free_port(), free_port(), free_port()
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.master = self.start_master()
        self.replica = subprocess.Popen(
            ["redis-server", "--port", str(self.replica_port), *common,
             "--replicaof", "127.0.0.1", str(self.master_port)], stdout=subprocess.DEVNULL)
        conf = self.dir / "sentinel.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                        f"logfile {self.dir / 'sentinel.log'}\n"
                        f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 1\n"
                        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                        f"sentinel failover-timeout {SERVICE} 5000\n")
        self.sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                         stdout=subprocess.DEVNULL)
        replica = redis.Redis(port=self.replica_port)
        wait_redis(lambda: replica.info("replication")["master_link_status"] == "up",
              "the replica to sync")
        wait_redis(lambda: self.master_address()[1] == self.master_port, "the sentinel")
        # Sentinel learns of replicas from the master's INFO: it can only promote one it knows.
        sentinel = redis.Redis(port=self.port)
        wait_redis(lambda: any(r.get("port") == str(self.replica_port) for r in
                          _pairs(sentinel.execute_command("SENTINEL", "replicas", SERVICE))),
              "the sentinel to know the replica")

    def start_master(self, replica_of: int | None = None) -> subprocess.Popen[bytes]:
        """The first master; started again after a failover (empty: no persistence), it
        comes back as a replica of ``replica_of`` that is never promoted — else a sentinel
        that briefly misses the promoted master could fail over to this empty one."""
        again = ["--replicaof", "127.0.0.1", str(replica_of), "--replica-priority", "0"] \
            if replica_of else []
        return subprocess.Popen(["redis-server", "--port", str(self.master_port), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly", "no", *again],
                                stdout=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{SERVICE}/0"

    def master_address(self) -> tuple[str, int]:
        host, port = redis.Redis(port=self.port).execute_command(
            "SENTINEL", "get-master-addr-by-name", SERVICE)
        return host.decode(), int(port)

    def kill_master(self) -> None:
        """SIGKILL the master once its replica holds every write."""
        assert redis.Redis(port=self.master_port).execute_command("WAIT", 1, 5000) == 1
        self.master.kill()
        self.master.wait()

    def kill_master_behind(self, seconds: float) -> None:
        """SIGKILL the master after its replica was cut off (frozen, its link closed) for
        ``seconds`` of writes; the replica goes on without them."""
        self.replica.send_signal(signal.SIGSTOP)
        try:
            redis.Redis(port=self.master_port).execute_command("CLIENT", "KILL", "TYPE",
                                                               "replica")
            time.sleep(seconds)
            self.master.kill()
            self.master.wait()
        finally:
            self.replica.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for proc in (self.sentinel, self.replica, self.master):
            proc.kill()
            proc.wait()


@pytest.fixture
def sentinel_group() -> Iterator[SentinelGroup]:
    group = SentinelGroup()
    yield group
    group.stop()


def _run(client: Any, n: int) -> list[str]:
    handles = [client.submit({"id": f"sentinel-{uuid.uuid4().hex[:10]}", "type": "general",
                              "description": "Explain this flaky test.",
                              "preferred_model": "claude-haiku-4", "max_output_tokens": 40})
               for _ in range(n)]
    for handle in handles:
        outcome = handle.result(timeout=90)
        assert outcome.data.get("usage", {}).get("output_tokens") == 40
    return [h.id for h in handles]


def test_the_fleet_follows_sentinel_through_a_failover(sentinel_group: SentinelGroup,
                                                       services: Any) -> None:
    from fleet.client import Client
    from fleet.streaming.subscribe import read_log

    url = sentinel_group.url
    env = {**FAST, "FLEET_REDIS_URL": url, "FLEET_BROKER_URL": url}
    worker = WorkerProcess(["fleet.dispatch", "model.claude-haiku-4"], "sentinel", env)
    try:
        client = Client(broker_url=url, redis_url=url)
        before = _run(client, 8)
        sentinel_group.kill_master()
        wait_redis(lambda: sentinel_group.master_address()[1] == sentinel_group.replica_port,
              "the replica's promotion", log=sentinel_group.dir / "sentinel.log")
        after = _run(client, 8)  # the worker and the client found the new master
    finally:
        worker.stop()
    promoted = redis.Redis(port=sentinel_group.replica_port)
    for task_id in before + after:
        events = read_log(promoted, task_id)
        assert [e["seq"] for e in events] == list(range(len(events)))
        assert events[-1]["type"] == "complete"


SLOW = {"FLEET_SIM_TTFT_MS": "50", "FLEET_SIM_TOKENS_PER_SECOND": "100",
        "FLEET_SIM_OUTPUT_TOKENS": "300", "FLEET_REDIS_WAIT_REPLICAS": "1",
        "FLEET_REDIS_WAIT_MS": "200"}


def test_a_master_killed_behind_its_replica_loses_nothing_with_wait(
        sentinel_group: SentinelGroup, services: Any, pg: Any) -> None:
    """Mid-run, the replica a second behind when its master dies: with
    FLEET_REDIS_WAIT_REPLICAS=1 the relay writes again what the promoted replica lacks (the
    broker is elsewhere, as docs/scaling.md asks of a zero-loss failover)."""
    from fleet.client import Client

    url = sentinel_group.url
    worker = WorkerProcess(["fleet.dispatch", "model.claude-haiku-4"], "sentinel-behind",
                           {**SLOW, "FLEET_REDIS_URL": url, "FLEET_BROKER_URL":
                            services.redis_url})
    try:
        client = Client(broker_url=services.redis_url, redis_url=url)
        handles = [client.submit({"id": f"behind-{uuid.uuid4().hex[:10]}", "type": "general",
                                  "description": "Explain this flaky test.",
                                  "preferred_model": "claude-haiku-4",
                                  "max_output_tokens": 300}) for _ in range(8)]
        master = redis.Redis(port=sentinel_group.master_port)
        wait_redis(lambda: sum(master.xlen(keys.stream_log(h.id)) > 5 for h in handles) >= 4,
                   "tasks streaming")
        sentinel_group.kill_master_behind(1.0)
        wait_redis(lambda: sentinel_group.master_address()[1] == sentinel_group.replica_port,
                   "the replica's promotion", log=sentinel_group.dir / "sentinel.log")
        # Writes wait for a replica the promoted master lacks until the old one is back as it.
        sentinel_group.master = sentinel_group.start_master(
            replica_of=sentinel_group.replica_port)
        for handle in handles:
            handle.result(timeout=120)  # a task that failed raises its error here
    finally:
        worker.stop()
    promoted = redis.Redis(port=sentinel_group.replica_port)
    for handle in handles:
        events = read_log(promoted, handle.id)
        assert [e["seq"] for e in events] == list(range(len(events))), handle.id
        assert events[-1]["type"] == "complete"
        rows = pg.execute("SELECT attempt FROM cost_entries WHERE task_id = %s", (handle.id,))
        assert [r[0] for r in rows.fetchall()] == [1]
