"""A Veracity API app with the gateway mounted, using the API's own keys (X-API-Key or Bearer)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.app import create_app, principal
from api.config import ApiSettings
from api.gateway.config import GatewayConfig
from api.gateway.router import build_gateway_router


def create_gateway_app(settings: ApiSettings, config: GatewayConfig, *, engine: Any | None = None) -> FastAPI:
    """create_app(settings) plus the gateway routes, verifying with the app's engine once loaded."""
    app = create_app(settings, engine=engine)
    router = build_gateway_router(lambda: app.state.veracity.engine, config, principal)
    app.include_router(router)
    app.state.gateway_pool = router.gateway_pool
    return app
