"""The OpenAI-compatible gateway: upstream LLMs behind /v1/chat/completions, answers verified as they stream."""

from api.gateway.config import GatewayConfig, UpstreamConfig, load_gateway_config
from api.gateway.router import build_gateway_router

__all__ = ["GatewayConfig", "UpstreamConfig", "build_gateway_router", "load_gateway_config"]
