"""`veracity serve`: decide the auth mode, configure JSON logging, run uvicorn.

Auth rules (checked before anything loads):
- keys configured (VERACITY_API_KEYS / VERACITY_API_KEYS_FILE): every /v1 request needs one;
- --no-auth or VERACITY_AUTH_DISABLED=1: refused unless the host is a loopback address;
- VERACITY_AUTH_DISABLED=0 with no keys: refused (auth required, nothing to check against);
- no keys and no choice made: on a loopback host auth is disabled with a warning in the log;
  on any other host the server refuses to start.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from api.config import ApiSettings, ConfigError, is_loopback
from pipeline.settings import Settings

log = logging.getLogger("veracity.api")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; access-log records already are one."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.name == "veracity.api.access":
            return msg
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": msg,
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def resolve_auth(settings: ApiSettings, host: str, no_auth: bool) -> tuple[ApiSettings, str | None]:
    """The settings with `auth_disabled` decided, plus a warning to log when auth ends up disabled;
    ConfigError saying why the server must not start."""
    keys = settings.key_policies()
    loopback = is_loopback(host)
    if no_auth or settings.auth_disabled is True:
        if not loopback:
            raise ConfigError(
                f"refusing to serve without API keys on {host}: auth can only be disabled on a "
                "loopback address (127.0.0.1, ::1); configure VERACITY_API_KEYS or "
                "VERACITY_API_KEYS_FILE instead"
            )
        return (
            settings.model_copy(update={"auth_disabled": True}),
            f"authentication DISABLED by {'--no-auth' if no_auth else 'VERACITY_AUTH_DISABLED'} on {host}",
        )
    if keys:
        return settings.model_copy(update={"auth_disabled": False}), None
    if settings.auth_disabled is False or not loopback:
        raise ConfigError(
            f"API authentication is enabled{'' if loopback else f' (required on non-loopback host {host})'} but "
            'no API keys are configured: set VERACITY_API_KEYS=\'{"<key>": {"read": ["sample"], '
            '"write": ["sample"]}}\' or VERACITY_API_KEYS_FILE=keys.toml'
            + (", or pass --no-auth on 127.0.0.1" if loopback else "")
        )
    return (
        settings.model_copy(update={"auth_disabled": True}),
        f"no API keys configured: serving on loopback {host} with authentication DISABLED (set "
        "VERACITY_API_KEYS to require keys; --no-auth makes this choice explicit)",
    )


def build_settings(args, settings: Settings) -> tuple[ApiSettings, str | None]:
    api = settings if isinstance(settings, ApiSettings) else ApiSettings(**settings.model_dump())
    if getattr(args, "corpus", None):
        api = api.model_copy(update={"serve_corpora": list(args.corpus)})
    if getattr(args, "gateway", None):
        api = api.model_copy(update={"gateway_config": Path(args.gateway).resolve()})
    return resolve_auth(api, args.host, bool(getattr(args, "no_auth", False)))


def serve(args, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    api_settings, notice = build_settings(args, settings)  # refuses before anything loads
    configure_logging(api_settings.log_level)
    if notice:
        log.warning(notice)
    app = create_app(api_settings)
    log.info(
        "serving on http://%s:%s (corpora: %s; auth %s)",
        args.host,
        args.port,
        ", ".join(api_settings.serve_corpora) or "-",
        "disabled" if api_settings.auth_disabled else f"{len(api_settings.key_policies())} keys",
    )
    uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options(api_settings))
    return 0


def uvicorn_options(settings: ApiSettings) -> dict:
    """uvicorn's settings for this deployment: our own logging, and forwarded headers only from the
    configured proxies (uvicorn's default believes any from 127.0.0.1)."""
    return {
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "server_header": False,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or "",
    }
