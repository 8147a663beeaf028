"""The compliance review UI, served by the API under /ui (see api/ui/router.py)."""

from api.ui.router import build_ui_router

__all__ = ["build_ui_router"]
