"""The bearer token every HTTP surface of the fleet (gateway, MCP over HTTP) requires when
``FLEET_GATEWAY_TOKEN`` is set: a pure ASGI middleware, so streamed responses pass through
untouched; compared in constant time, never logged."""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fleet.services import get_settings

OPEN_PATHS = frozenset({"/healthz"})


class BearerToken:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = get_settings().fleet_gateway_token
        if scope["type"] == "http" and token is not None and scope["path"] not in OPEN_PATHS:
            expected = f"Bearer {token.get_secret_value()}".encode()
            given = Headers(scope=scope).get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                response = JSONResponse(
                    {"error": {"code": "AUTH_001", "name": "Unauthorized",
                               "message": "missing or wrong bearer token"}},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
