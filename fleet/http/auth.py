"""Who may call the fleet over HTTP (gateway, MCP over HTTP) and how often: the seed's §11.4
access levels as bearer tokens with scopes, and a per-token rate limit in Redis.

``FLEET_API_TOKENS`` holds comma-separated entries ``name:token:scope+scope`` (scopes
``submit``: create tasks and read the ones it created; ``read``: any task and the reports;
``admin``: also flags, models and budgets) or a bare ``token`` (every scope);
``FLEET_GATEWAY_TOKEN`` is one more token with every scope. With neither set, HTTP is open.
Tokens are compared in constant time and never logged; a request carries its token's *name*
(``scope["fleet.caller"]``) and scopes (``scope["fleet.scopes"]``) onwards.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from functools import cache
from typing import Literal, get_args

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fleet.errors import ConfigError
from fleet.services import get_services, get_settings

Access = Literal["submit", "read", "admin"]
ALL: frozenset[Access] = frozenset(get_args(Access))
OPEN_PATHS = frozenset({"/healthz", "/openapi.json"})


@dataclass(frozen=True)
class ApiToken:
    name: str
    secret: SecretStr
    scopes: frozenset[Access]


def parse_tokens(raw: str, gateway_token: str | None = None) -> list[ApiToken]:
    """The tokens of a ``FLEET_API_TOKENS`` value (and ``FLEET_GATEWAY_TOKEN``); CONFIG_001
    naming the entry's position (never its text) when one is malformed."""
    tokens = [ApiToken("gateway", SecretStr(gateway_token), ALL)] if gateway_token else []
    for position, entry in enumerate((e.strip() for e in raw.split(",")), 1):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) == 1:
            tokens.append(ApiToken(f"token-{position}", SecretStr(parts[0]), ALL))
            continue
        scopes = frozenset(parts[2].split("+")) if len(parts) == 3 else frozenset()
        if len(parts) != 3 or not parts[0] or len(parts[1]) < 8 or not scopes <= ALL:
            raise ConfigError(f"FLEET_API_TOKENS entry {position}: expected name:token:scopes "
                              "(a token of 8+ characters; scopes submit, read, admin joined "
                              "by +) or a bare token")
        tokens.append(ApiToken(parts[0], SecretStr(parts[1]), scopes))  # type: ignore[arg-type]
    return tokens


@cache
def _tokens(raw: str, gateway_token: str | None) -> tuple[ApiToken, ...]:
    return tuple(parse_tokens(raw, gateway_token))


def configured_tokens() -> tuple[ApiToken, ...]:
    settings = get_settings()
    raw = settings.fleet_api_tokens.get_secret_value() if settings.fleet_api_tokens else ""
    gateway = settings.fleet_gateway_token
    return _tokens(raw, gateway.get_secret_value() if gateway else None)


def identify(header: str, tokens: tuple[ApiToken, ...]) -> ApiToken | None:
    """The token ``Authorization: Bearer …`` names; every token is compared, in constant time."""
    given = header.encode()
    found = None
    for token in tokens:
        if hmac.compare_digest(given, f"Bearer {token.secret.get_secret_value()}".encode()):
            found = token
    return found


def error(status: int, code: str, name: str, message: str,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "name": name, "message": message}},
                        status_code=status, headers=headers)


def over_limit(caller: str, per_minute: int) -> int:
    """Seconds until ``caller`` may call again (0: now), counting this request."""
    minute = int(time.time() // 60)
    key = f"fleet:ratelimit:{caller}:{minute}"
    pipe = get_services().redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, 120)
    count = int(pipe.execute()[0])
    return 0 if count <= per_minute else 60 - int(time.time()) % 60


class BearerToken:
    """Authenticates every HTTP request but the open paths, and rate-limits each token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tokens = configured_tokens()
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["path"].startswith(
                "/watch/"):
            await self.app(scope, receive, send)
            return
        caller, scopes = None, ALL
        if tokens:
            token = identify(Headers(scope=scope).get("authorization", ""), tokens)
            if token is None:
                await error(401, "AUTH_001", "Unauthorized", "missing or wrong bearer token",
                            {"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
            caller, scopes = token.name, token.scopes
            per_minute = get_settings().fleet_rate_limit_per_minute
            wait = over_limit(caller, per_minute) if per_minute else 0
            if wait:
                await error(429, "AUTH_003", "RateLimited",
                            f"over {per_minute} requests a minute",
                            {"Retry-After": str(wait)})(scope, receive, send)
                return
        scope["fleet.caller"], scope["fleet.scopes"] = caller, scopes
        await self.app(scope, receive, send)


class RequireAccess:
    """Lets through only requests whose token has ``access`` (admin has every one): for an
    app with one access level throughout, such as MCP over HTTP (submit)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scopes = scope.get("fleet.scopes", ALL)
        if scope["type"] == "http" and self.access not in scopes and "admin" not in scopes:
            await error(403, "AUTH_002", "Forbidden",
                        f"this token may not use this service (needs {self.access})")(
                scope, receive, send)
            return
        await self.app(scope, receive, send)
