"""WAIT for replicas: which node a write's marker goes to, and the refusal when none holds it."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.backends import keys
from fleet.backends.replication import NotReplicated, Replication, hash_tag, marker
from fleet.streaming.relay import _written_keys


def test_a_marker_shares_its_keys_slot() -> None:
    from redis.cluster import key_slot

    for key in (keys.stream_log("t-1"), keys.BUDGET_RESERVATIONS, keys.OUTBOX, "plain:key"):
        assert key_slot(marker(key).encode()) == key_slot(key.encode()), key
    assert hash_tag("fleet:log:{abc}") == "abc" and hash_tag("a{}b") == "a{}b"


def test_a_batch_names_the_keys_it_wrote() -> None:
    calls: list[list[Any]] = [
        ["EVALSHA", "sha", 1, "fleet:log:{a}", "fleet:stream:{a}", 3600, "PUBLISH", 0, "{}"],
        ["EVAL", "script", 2, "{fleet:budget}:x", "{fleet:budget}:y", "arg"],
        ["PUBLISH", "fleet:events", "{}"], ["HDEL", "{fleet:outbox}", "t"]]
    assert _written_keys(calls) == ["fleet:log:{a}", "{fleet:budget}:x", "{fleet:budget}:y",
                                    "{fleet:outbox}"]


@pytest.mark.integration
def test_writes_no_replica_holds_are_refused_in_time(redis_client: Any) -> None:
    assert redis_client.info("replication")["connected_slaves"] == 0
    Replication(redis_client, 0, 50).wait(["k"])  # off: never waits
    with pytest.raises(NotReplicated, match="0 of 1 replicas"):
        Replication(redis_client, 1, 50).wait(["k"])
    assert redis_client.exists(marker("k"))
