"""Redis URLs: a server, or a Sentinel-watched master, for the fleet's clients and for Celery."""

from __future__ import annotations

import pytest

from fleet.backends.redis import SentinelTarget, celery_url, sentinel_target


def test_a_sentinel_url_names_its_sentinels_service_db_and_password() -> None:
    assert sentinel_target("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/fleet/2") == \
        SentinelTarget([("10.0.0.1", 26379), ("10.0.0.2", 26380)], "fleet", 2, None)
    assert sentinel_target("redis+sentinel://:s3cret@sentinel/fleet") == \
        SentinelTarget([("sentinel", 26379)], "fleet", 0, "s3cret")
    assert sentinel_target("redis://127.0.0.1:6379/0") is None
    with pytest.raises(ValueError, match="redis\\+sentinel://host:port"):
        sentinel_target("redis+sentinel://10.0.0.1:26379")


def test_celery_gets_the_same_master_in_kombus_form() -> None:
    assert celery_url("redis+sentinel://a:1,b:2/fleet/3") == (
        "sentinel://a:1/3;sentinel://b:2/3", {"master_name": "fleet"})
    assert celery_url("redis+sentinel://:pw@a:1/fleet") == (
        "sentinel://:pw@a:1/0", {"master_name": "fleet"})
    assert celery_url("redis://127.0.0.1:6379/0") == ("redis://127.0.0.1:6379/0", {})


def test_messages_show_urls_without_their_password() -> None:
    from fleet.backends.redis import redacted

    assert redacted("redis://:s3cret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"
    assert redacted("redis+sentinel://user:pw@a:1,b:2/fleet") == \
        "redis+sentinel://user:***@a:1,b:2/fleet"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_cluster_url_names_its_nodes_and_password_and_no_database() -> None:
    from fleet.backends.redis import ClusterTarget, cluster_target

    assert cluster_target("redis+cluster://10.0.0.1:7000,10.0.0.2") == \
        ClusterTarget([("10.0.0.1", 7000), ("10.0.0.2", 6379)], None)
    assert cluster_target("redis+cluster://:pw@a:7000/") == ClusterTarget([("a", 7000)], "pw")
    assert cluster_target("redis://127.0.0.1:6379/0") is None
    with pytest.raises(ValueError, match="no databases"):
        cluster_target("redis+cluster://a:7000/2")
    with pytest.raises(ValueError, match="cannot use a Redis Cluster"):
        celery_url("redis+cluster://a:7000")


def test_on_a_cluster_results_stay_with_the_brokers_redis() -> None:
    from fleet.config import Settings

    cluster = "redis+cluster://a:7000"
    assert Settings(fleet_redis_url=cluster, fleet_broker_url="redis://b:6379/1"
                    ).result_backend == "redis://b:6379/1"
    assert Settings(fleet_redis_url=cluster, fleet_broker_url="amqp://b",
                    fleet_result_backend="redis://c/0").result_backend == "redis://c/0"
    with pytest.raises(ValueError, match="FLEET_RESULT_BACKEND"):
        _ = Settings(fleet_redis_url=cluster, fleet_broker_url="amqp://b").result_backend
