"""Services: each shared component built once per process, ready-made ones used as given, and
the process's object swappable (no service is reached)."""

from __future__ import annotations

import threading
import time

from fleet.config import load_config
from fleet.costs.stub import StubCostTracker
from fleet.services import Services, get_config, get_services, set_services
from tests.config.test_config import SHIPPED


def test_a_component_is_built_once_whatever_the_threads() -> None:
    services = Services(load_config(SHIPPED, environ={}))
    built: list[int] = []

    def build() -> object:
        time.sleep(0.01)  # a slow build: the other threads arrive while it runs
        built.append(1)
        return object()

    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(services.component("x", build)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1] and len({id(s) for s in seen}) == 1


def test_ready_made_components_are_used_as_given() -> None:
    config = load_config(SHIPPED, environ={})
    costs = StubCostTracker()
    services = Services(config, costs=costs)
    assert services.config is config and services.costs is costs


def test_the_process_object_can_be_swapped() -> None:
    config = load_config(SHIPPED, environ={"ROUTING_DEFAULT_MODEL": "claude-haiku-4"})
    previous = set_services(Services(config))
    try:
        assert get_config().routing.default_model == "claude-haiku-4"
        assert get_services().config is config
    finally:
        set_services(previous)
