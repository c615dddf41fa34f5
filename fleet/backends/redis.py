"""Redis clients that ride out a restart, and the wait for a Redis that stayed away too long.

Every command is retried on connection errors with exponential backoff for about half a
minute (``FLEET_REDIS_RETRIES``), so a Redis restart (or failover) pauses the fleet instead of
failing its tasks; pub/sub subscriptions are re-established by the same mechanism. A task
that loses Redis for longer than that waits for it with :func:`wait_for_redis` and is retried.
The process's client is :attr:`fleet.services.Services.redis`.

A URL may name a Sentinel-watched master instead of a server:
``redis+sentinel://[:password@]host:port[,host:port…]/<service name>[/db]``. The client then
asks the sentinels for the master on every (re)connect, so a failover is one more reconnect;
:func:`celery_url` gives Celery (kombu) the same place in its own form. Or a Redis Cluster,
``redis+cluster://[:password@]host:port[,host:port…]``, for the fleet's state only (Celery's
broker and result backend cannot use one): redis-py's cluster client, its retries spaced out
like a single server's so that they outlast a master's failover.
"""

from __future__ import annotations

import re
import time
from typing import Any, NamedTuple, cast

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

# What a command raises once Redis has been unreachable for longer than the client retries.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


SENTINEL_SCHEME = "redis+sentinel://"
CLUSTER_SCHEME = "redis+cluster://"
# What a cluster command meets while a master fails over: retried, spaced out.
CLUSTER_RETRIED: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError,
    redis.exceptions.SlotNotCoveredError, redis.exceptions.TryAgainError)


class SentinelTarget(NamedTuple):
    sentinels: list[tuple[str, int]]
    service: str
    db: int
    password: str | None


def sentinel_target(url: str) -> SentinelTarget | None:
    """The sentinels, service and db a ``redis+sentinel://`` URL names (None: another URL)."""
    if not url.startswith(SENTINEL_SCHEME):
        return None
    rest = url.removeprefix(SENTINEL_SCHEME)
    auth, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    service, _, db = path.partition("/")
    if not hosts or not service:
        raise ValueError("a Sentinel URL is redis+sentinel://host:port[,host:port…]/service[/db]")
    nodes = [(host, int(port or 26379)) for host, _, port in
             (node.rpartition(":") if ":" in node else (node, "", "") for node in
              hosts.split(","))]
    return SentinelTarget(nodes, service, int(db or 0), auth.partition(":")[2] or None)


class ClusterTarget(NamedTuple):
    nodes: list[tuple[str, int]]
    password: str | None


def cluster_target(url: str) -> ClusterTarget | None:
    """The nodes a ``redis+cluster://`` URL names (None: another URL)."""
    if not url.startswith(CLUSTER_SCHEME):
        return None
    auth, _, hosts = url.removeprefix(CLUSTER_SCHEME).rstrip("/").rpartition("@")
    if not hosts or "/" in hosts:
        raise ValueError("a Redis Cluster URL is redis+cluster://host:port[,host:port…] "
                         "(a cluster has no databases)")
    nodes = [(host, int(port or 6379)) for host, _, port in
             (node.rpartition(":") if ":" in node else (node, "", "") for node in
              hosts.split(","))]
    return ClusterTarget(nodes, auth.partition(":")[2] or None)


def is_cluster(client: redis.Redis | aioredis.Redis) -> bool:
    return isinstance(client, redis.RedisCluster | aiocluster.RedisCluster)


def publish_command(client: redis.Redis) -> str:
    """How the fleet publishes a task's events: sharded on a cluster (only the node that owns
    the channel's slot carries them), else classic pub/sub."""
    return "SPUBLISH" if is_cluster(client) else "PUBLISH"


def _backoff() -> ExponentialBackoff:
    """Waits between retries: 50 ms doubling to 2 s (20 retries: about half a minute)."""
    return ExponentialBackoff(cap=2.0, base=0.05)


class _Cluster(redis.RedisCluster):
    """redis-py's cluster client retries a command at once, as often as told, which a
    failover (seconds) outlasts; this one waits between tries like a single server's client."""

    def __init__(self, *args: Any, fleet_retry: Retry, **kwargs: Any) -> None:
        self._fleet_retry = fleet_retry  # the constructor runs commands already
        super().__init__(*args, **kwargs)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return self._fleet_retry.call_with_retry(
            lambda: super(_Cluster, self).execute_command(  # type: ignore[no-untyped-call]
                *args, **kwargs), lambda _: None)


class _AsyncCluster(aiocluster.RedisCluster):
    def __init__(self, *args: Any, fleet_retry: AsyncRetry, **kwargs: Any) -> None:
        self._fleet_retry = fleet_retry
        super().__init__(*args, **kwargs)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await self._fleet_retry.call_with_retry(
            lambda: super(_AsyncCluster, self).execute_command(*args, **kwargs), lambda _: None)


class _SentinelConnection(SentinelManagedConnection):
    """A connection to a Sentinel-watched master that asks for the master on every connect:
    redis-py 6 reconnects a dropped connection (``connect_check_health``) at the address it
    had, which after a failover is the dead master's — until every retry is spent."""

    def _connect(self) -> Any:
        if self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        return super()._connect()  # type: ignore[no-untyped-call]


# Options of every fleet client: ride out a restart or failover.
def _options(retries: int) -> dict[str, Any]:
    return {"health_check_interval": 30, "socket_keepalive": True, "socket_connect_timeout": 5,
            "retry": Retry(_backoff(), retries),
            # OSError: a refused or reset connect. redis-py opens a fresh connection outside
            # its command retry and, without this, fails at once while Redis is down instead
            # of waiting for it.
            "retry_on_error": [redis.ConnectionError, redis.TimeoutError, OSError]}


def connect(url: str, retries: int) -> redis.Redis:
    """A thread-safe client (its own connection pool) that retries through a reconnect."""
    cluster = cluster_target(url)
    if cluster is not None:
        # A cluster client has the commands of a client (its type does not say so).
        return cast(redis.Redis, _Cluster(
            startup_nodes=[redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
                           for host, port in cluster.nodes],
            password=cluster.password, health_check_interval=30,
            fleet_retry=Retry(_backoff(), retries, CLUSTER_RETRIED),
            socket_keepalive=True, socket_connect_timeout=5))
    target = sentinel_target(url)
    if target is None:
        return redis.Redis.from_url(url, **_options(retries))
    # redis-py's Sentinel API is untyped; master_for returns a redis.Redis.
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        target.sentinels, socket_connect_timeout=5, socket_timeout=5)
    return cast(redis.Redis, sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service, db=target.db, password=target.password,
        connection_class=_SentinelConnection, **_options(retries)))


def connect_async(url: str, retries: int) -> aioredis.Redis:
    """An asyncio client of the same Redis (a subscriber's own connection); ``retries``
    spaces out a cluster client's retries through a failover."""
    cluster = cluster_target(url)
    if cluster is not None:
        return cast(aioredis.Redis, _AsyncCluster(
            startup_nodes=[aiocluster.ClusterNode(host, port) for host, port in cluster.nodes],
            # Typed for RedisError only; the cluster's own errors are not all RedisErrors.
            password=cluster.password, socket_connect_timeout=5, fleet_retry=AsyncRetry(
                _backoff(), retries, CLUSTER_RETRIED)))  # type: ignore[arg-type]
    target = sentinel_target(url)
    if target is None:
        return cast(aioredis.Redis, aioredis.Redis.from_url(url))
    sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
        target.sentinels, socket_connect_timeout=5, socket_timeout=5)
    return cast(aioredis.Redis, sentinel.master_for(target.service, db=target.db,
                                                    password=target.password))


def redacted(url: str) -> str:
    """``url`` with its password masked, for messages."""
    return re.sub(r"(//[^/@]*:)[^/@]*@", r"\1***@", url)


def celery_url(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` as Celery takes it, and the transport options it needs: kombu names a
    Sentinel-watched master ``sentinel://host:port/db;…`` with ``master_name``."""
    if cluster_target(url) is not None:
        raise ValueError("Celery's broker and result backend cannot use a Redis Cluster: give "
                         "them RabbitMQ or a single (or Sentinel-watched) Redis")
    target = sentinel_target(url)
    if target is None:
        return url, {}
    auth = f":{target.password}@" if target.password else ""
    return (";".join(f"sentinel://{auth}{host}:{port}/{target.db}"
                     for host, port in target.sentinels), {"master_name": target.service})


def wait_for_redis(deadline: float, client: redis.Redis) -> bool:
    """Block until Redis answers (True) or ``time.monotonic()`` passes ``deadline`` (False)."""
    while True:
        try:
            client.ping()  # itself retried for the client's whole retry window
            return True
        except REDIS_DOWN:
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
