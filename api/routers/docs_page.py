"""GET /docs: the API reference as one self-contained HTML page rendered from the OpenAPI schema.

FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN, which an offline or locked-down
deployment cannot reach (and which would run third-party code beside the API); this page needs
nothing but the server. The machine-readable schema stays at /openapi.json.
"""

from __future__ import annotations

import json
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "h2{margin-top:2.5rem;border-bottom:1px solid #ddd}.op{margin:1.5rem 0;padding:.5rem 1rem;"
    "border-left:4px solid #4a7}.m{font-weight:bold;text-transform:uppercase;margin-right:.5rem}"
    "pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:13px}code{font-size:13px}"
)
CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


def _json(value) -> str:
    return escape(json.dumps(value, indent=2, ensure_ascii=False))


def render(spec: dict) -> str:
    """The page: each operation with its summary, parameters, request body and responses; the
    component schemas at the end."""
    info = spec.get("info", {})
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small></h1>",
        f"<p>{escape(info.get('summary', ''))}</p><p>{escape(info.get('description', ''))}</p>",
        '<p>Machine-readable schema: <a href="openapi.json">openapi.json</a></p>',
    ]
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            out.append(f"<div class=op><p><span class=m>{escape(method)}</span><code>{escape(path)}</code>")
            out.append(f" — {escape(op.get('summary', ''))}</p>")
            if op.get("description"):
                out.append(f"<p>{escape(op['description'])}</p>")
            if op.get("parameters"):
                out.append(
                    f"<details><summary>Parameters</summary><pre>{_json(op['parameters'])}</pre></details>"
                )
            if op.get("requestBody"):
                out.append(
                    f"<details><summary>Request body</summary><pre>{_json(op['requestBody'])}</pre></details>"
                )
            for status, resp in op.get("responses", {}).items():
                body = resp.get("content")
                detail = f"<pre>{_json(body)}</pre>" if body else ""
                out.append(
                    f"<details><summary>{escape(status)}: {escape(resp.get('description', ''))}</summary>"
                    f"{detail}</details>"
                )
            out.append("</div>")
    out.append("<h2>Schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out.append(
            f"<details><summary><code>{escape(name)}</code></summary><pre>{_json(schema)}</pre></details>"
        )
    out.append("</body></html>")
    return "".join(out)


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(
        render(request.app.openapi()),
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"},
    )
