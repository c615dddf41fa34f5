"""Writes that must survive a failover: ``WAIT`` until replicas hold them.

Redis replicates asynchronously, so a master that dies may take its last acknowledged writes
with it (docs/scaling.md). With ``FLEET_REDIS_WAIT_REPLICAS`` = n > 0 the fleet does not count
a stream batch as written, an attempt as started or a reservation as taken until n replicas of
each master it wrote to hold it; else it raises :class:`NotReplicated`, which callers treat
like a lost connection (the relay writes the batch again — its writes are idempotent — on the
promoted replica). ``WAIT`` covers the writes of its own connection only, so a marker key is
written to the same node just before it, on one connection: replication is one ordered stream,
so the marker's offset covers every write the node took before.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from fleet.backends.redis import is_cluster

MARKER_TTL_MS = 60_000


class NotReplicated(redis.exceptions.TimeoutError):
    """Fewer replicas than required acknowledged the writes in time."""


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes of ``key``: the part in its first braces, if not empty."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1:end] if start >= 0 and end > start + 1 else key


def marker(key: str) -> str:
    """A key in ``key``'s slot, written before each WAIT (``key``: one with a hash tag or
    without braces, as every fleet key is)."""
    return f"fleet:replicated:{{{hash_tag(key)}}}"


class Replication:
    """Waits for ``replicas`` replicas of every master holding ``keys`` (0: never waits)."""

    def __init__(self, client: redis.Redis, replicas: int, timeout_ms: int) -> None:
        self.client = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    def wait(self, keys: Iterable[str]) -> None:
        if self.replicas <= 0:
            return
        for connection, key in self._masters(keys):
            pipe = connection.pipeline(transaction=False)
            pipe.set(marker(key), 1, px=MARKER_TTL_MS)
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)  # type: ignore[no-untyped-call]
            acked = int(pipe.execute()[-1])
            if acked < self.replicas:
                raise NotReplicated(f"{acked} of {self.replicas} replicas acknowledged the "
                                    f"writes to {key!r} in {self.timeout_ms} ms")

    def _masters(self, keys: Iterable[str]) -> list[tuple[redis.Redis, str]]:
        """A client of each master holding one of ``keys``, with one such key."""
        if not is_cluster(self.client):
            return [(self.client, key) for key in list(keys)[:1]]
        cluster: redis.RedisCluster = self.client  # type: ignore[assignment]
        masters: dict[str, tuple[redis.Redis, str]] = {}
        for key in keys:
            node = cluster.get_node_from_key(key)  # type: ignore[no-untyped-call]
            if node.name not in masters:
                masters[node.name] = (cluster.get_redis_connection(node), key)
        return list(masters.values())
