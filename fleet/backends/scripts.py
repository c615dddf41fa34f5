"""The fleet's Lua scripts: each file sits beside the module that runs it; all are loaded and
registered here, once per client (:attr:`fleet.services.Services.scripts`)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

import redis
from redis.commands.core import Script

ScriptName = Literal["publish", "lease", "cancel", "breaker", "reserve", "settle", "rebuild"]
# name -> (the package beside whose module it sits, file name)
SCRIPT_FILES: dict[ScriptName, tuple[str, str]] = {
    "publish": ("fleet.streaming", "publish.lua"),  # the stream relay's XADD + PUBLISH
    "lease": ("workers", "lease.lua"),  # an attempt's lease (workers.attempt)
    "cancel": ("fleet.dispatch", "cancel.lua"),  # a task's cancellation (fleet.dispatch.cancel)
    "breaker": ("fleet.routing", "breaker.lua"),  # circuit-breaker transitions
    "reserve": ("fleet.costs.budget", "reserve.lua"),  # budget reservation (dispatch)
    "settle": ("fleet.costs.budget", "settle.lua"),  # budget settle (worker)
    "rebuild": ("fleet.costs.budget", "rebuild.lua"),  # budget rebuild from PostgreSQL
}


@cache
def source(name: ScriptName) -> str:
    package, filename = SCRIPT_FILES[name]
    return files(package).joinpath(filename).read_text()


class Scripts:
    """Every script registered on one client. A ``Script`` reloads itself after a Redis restart
    (NoScriptError); callers that pipeline EVALSHA themselves use its ``sha`` and ``script``."""

    def __init__(self, client: redis.Redis) -> None:
        self._registered = {name: client.register_script(source(name)) for name in SCRIPT_FILES}

    def __getitem__(self, name: ScriptName) -> Script:
        return self._registered[name]
