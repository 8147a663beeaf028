"""What the self-contained HTML reports (the audit's and the calibration's) share: the page style,
SVG charts drawn without any script or fetched file, and the jinja2 environment (autoescape on, so
every text from transcripts, documents or labels is HTML-escaped)."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

PAGE_STYLE = """:root { --fg: #1d2330; --muted: #5d6472; --line: #d9dde4; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0;
       background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 10px; }
.muted { color: var(--muted); } .small { font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 16px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .n { font-size: 24px; font-weight: 600; } .card .l { color: var(--muted); font-size: 13px; }
.card.alert .n { color: #c0392b; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 14px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef0f4; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.turn { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 14px 0; }
.turn h3 { font-size: 15px; margin: 0 0 6px; }
.q { color: var(--muted); margin: 4px 0 8px; white-space: pre-wrap; }
.answer { white-space: pre-wrap; background: #fafbfc; border: 1px solid var(--line); border-radius: 6px;
          padding: 8px 10px; max-height: 320px; overflow: auto; }
mark { padding: 0 2px; border-radius: 3px; }
mark.contradicted { background: #f9d6d2; } mark.unsupported { background: #fbe7c2; }
mark.unchecked { background: #e8daf2; }
sup.m { font-weight: 700; font-size: 11px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; color: #fff; font-size: 12px; }
.flag { margin: 8px 0 0; padding-left: 10px; border-left: 3px solid var(--line); }
blockquote { margin: 4px 0 0; padding: 4px 10px; background: #f3f5f8; border-radius: 4px; font-size: 13px;
             white-space: pre-wrap; }
code { font-size: 13px; }
"""

CHARTS = """{% macro bars(rows, width=500) %}
{% set maxn = (rows | map(attribute='n') | max) if rows else 0 %}
{% set h = rows | length * 28 + 6 %}
<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" viewBox="0 0 {{ width }} {{ h }}"
     style="max-width: {{ width }}px">
{% for r in rows %}
  {% set y = loop.index0 * 28 + 4 %}
  {% set w = ((r.n / maxn) * (width - 230)) if maxn else 0 %}
  <text x="0" y="{{ y + 15 }}" font-size="13" fill="#1d2330">{{ r.label }}</text>
  <rect x="170" y="{{ y }}" width="{{ '%.1f' | format(w) }}" height="20" rx="3" fill="{{ r.colour }}"></rect>
  <text x="{{ '%.1f' | format(176 + w) }}" y="{{ y + 15 }}" font-size="13" fill="#1d2330">{{ r.n }}</text>
{% endfor %}
</svg>
{% endmacro %}
"""

HTML = Environment(
    loader=DictLoader({"style.css": PAGE_STYLE, "charts.html": CHARTS}),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
HTML.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
HTML.filters["ms"] = lambda x: "–" if x is None else f"{x:,.0f} ms"
