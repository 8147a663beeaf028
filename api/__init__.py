"""Veracity's REST API: FastAPI app (api.app), uvicorn runner (api.server) and a sync client (api.client)."""
