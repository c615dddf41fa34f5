"""A local Redis Cluster for tests: three masters and a replica each, on spare loopback ports."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from tests.harness import free_port, wait_redis


def _cluster_port() -> int:
    """A free port whose cluster bus (port + 10000) is a valid port too."""
    while (port := free_port()) >= 55535:
        pass
    return port


class LocalCluster:
    """``redis-server --cluster-enabled yes`` six times and ``redis-cli --cluster create``
    with one replica per master; a node that misses 1 s of pings is failed over."""

    def __init__(self, masters: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-cluster-"))
        self.ports = [_cluster_port() for _ in range(masters * 2)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        for port in self.ports:
            self.start(port)
        for port in self.ports:
            wait_redis(lambda p=port: redis.Redis(port=p).ping(), f"node {port}")
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{port}" for port in self.ports),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_redis(self.healthy, "the cluster to form")

    def start(self, port: int) -> None:
        """Start node ``port``; restarted, it rejoins from its nodes file (empty: a node
        whose slots moved to its replica while it was away comes back as that one's replica)."""
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
             "--cluster-node-timeout", "1000", "--dir", str(self.dir), "--save", "",
             "--appendonly", "no", "--logfile", str(self.dir / f"{port}.log")],
            stdout=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports[:2])

    def node(self, port: int) -> Any:
        """A client of node ``port`` (Any: redis-py's sync and async replies share one type)."""
        return redis.Redis(port=port)

    def healthy(self) -> bool:
        """Every live node sees the cluster ok and every master has a synced replica."""
        live = [port for port, proc in self.procs.items() if proc.poll() is None]
        if any(self.node(p).cluster("info")["cluster_state"] != "ok" for p in live):
            return False
        return all(self.node(p).info("replication")["master_link_status"] == "up"
                   for p in live if self.node(p).info("replication")["role"] == "slave")

    def master_of(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot now."""
        slot = key_slot(key.encode())
        live = next(p for p, proc in self.procs.items() if proc.poll() is None)
        for start, end, master, *_ in self.node(live).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"no master serves slot {slot}")

    def replica_of(self, master_port: int) -> int:
        replicas = self.node(master_port).info("replication")
        return int(replicas["slave0"]["port"])

    def kill_in_sync(self, port: int) -> None:
        """SIGKILL master ``port`` at a moment its replica holds every write: writes paused
        (clients wait, then meet a dead connection and retry), ``WAIT`` for the replica."""
        master = self.node(port)
        master.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
        assert master.execute_command("WAIT", 1, 5000) == 1
        self.procs[port].kill()
        self.procs[port].wait()

    def kill_behind(self, port: int, replica: int, seconds: float) -> None:
        """SIGKILL master ``port`` after its replica was cut off (frozen with SIGSTOP, its
        link closed by the master) for ``seconds`` of writes, then let the replica go on: it
        never gets those writes."""
        self.procs[replica].send_signal(signal.SIGSTOP)
        try:
            self.node(port).execute_command("CLIENT", "KILL", "TYPE", "replica")
            time.sleep(seconds)
            self.procs[port].kill()
            self.procs[port].wait()
        finally:
            self.procs[replica].send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
