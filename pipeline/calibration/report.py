"""The calibration report: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched; every text escaped) with the precision-recall curve of flags, the confusion matrix,
figures per error kind and how many labelled sentences stand behind them."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.audit.html import HTML
from pipeline.calibration.metrics import wilson
from pipeline.calibration.sweep import MIN_CLASS, Calibration, Outcome
from pipeline.files import atomic_write
from pipeline.schema import BY_SEVERITY
from pipeline.verification.decision import SupportModel

W, H, PAD = 420, 320, 44  # the curve's plot area


def _xy(recall: float, precision: float) -> tuple[float, float]:
    return PAD + recall * (W - PAD - 10), H - PAD - precision * (H - PAD - 10)


def context(cal: Calibration, outcomes: dict[str, Outcome], support: SupportModel | None, meta: dict) -> dict:
    """What the template shows; `outcomes` has 'current' and 'chosen'; `meta`: corpus, source, ..."""
    frontier = cal.frontier()
    n_err, n_ok = cal.n_errors, cal.n_sentences - cal.n_errors
    classes = [("real errors", n_err), ("correct or no claim", n_ok)]
    rows = []
    for name, o in outcomes.items():
        p = o.point
        rows.append(
            {
                "name": name,
                "values": p.values(support),
                "precision": p.precision,
                "precision_ci": wilson(p.tp, p.flags),
                "recall": p.recall,
                "recall_ci": wilson(p.tp, p.tp + p.fn),
                "f1": p.f1,
                "hard": p.hard,
                "hard_ci": wilson(p.hard_tp, p.hard_tp + p.hard_fp),
                "flags": p.flags,
                "review_share": p.review_share,
                "xy": _xy(p.recall, p.precision),
            }
        )
    return {
        **meta,
        "cal": cal,
        "rows": rows,
        "outcomes": outcomes,
        "labels": [str(v) for v in BY_SEVERITY],
        "grid_xy": [_xy(p.recall, p.precision) for p in cal.grid if p.flags],
        "curve": " ".join(f"{x:.1f},{y:.1f}" for x, y in (_xy(p.recall, p.precision) for p in frontier)),
        "ticks": [i / 5 for i in range(6)],
        "classes": classes,
        "few": [(name, n) for name, n in classes if n < MIN_CLASS],
        "min_class": MIN_CLASS,
        "W": W,
        "H": H,
        "PAD": PAD,
        "xy": _xy,
    }


def write_report(path: str | os.PathLike, ctx: dict) -> Path:
    """Render the report to `path` atomically."""
    html = _TEMPLATE.render(**ctx)
    atomic_write(path, lambda fh: fh.write(html))
    return Path(path)


_TEMPLATE = HTML.from_string("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Veracity calibration {{ corpus }}</title>
<style>
{% include "style.css" %}
.warn { background: #fff4e5; border: 1px solid #f0b35a; border-radius: 8px; padding: 8px 14px; }
</style>
</head>
<body>
<main>
{% macro ci(pair) %}<span class="muted small">[{{ '%.2f' | format(pair[0]) }}–{{ '%.2f' | format(pair[1]) }}]</span>{% endmacro %}
<h1>Veracity calibration <code>{{ corpus }}</code></h1>
<div class="muted small">labels: {{ source }} · answers: {{ n_answers }} · {{ cal.n_sentences }} labelled sentences
 · {% if cal.target_precision is not none %}target: flag precision ≥ {{ cal.target_precision }}{% else %}target: best F1 of flags{% endif %}
 · generated {{ generated }}</div>

{% if few %}
<p class="warn" role="alert" id="few-labels">Few labels: {% for name, n in few %}{{ n }} {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}{{ ' ' }}
(fewer than {{ min_class }} in a class). The figures below are rough; the intervals show how rough.</p>
{% endif %}
{% if not cal.reached %}
<p class="warn" role="alert">No thresholds in the sweep reach flag precision {{ cal.target_precision }}; the most precise point is shown and nothing may be written.</p>
{% endif %}

<div class="cards">
{% for name, n in classes %}<div class="card"><div class="n">{{ n }}</div><div class="l">{{ name }}</div></div>{% endfor %}
</div>

<h2>Thresholds</h2>
<table id="thresholds">
<tr><th></th>{% for k in rows[0]['values'] %}<th class="num">{{ k }}</th>{% endfor %}<th class="num">flags</th>
<th class="num">precision [95% CI]</th><th class="num">recall [95% CI]</th><th class="num">F1</th>
<th class="num">hard-flag precision</th><th class="num">needs review</th></tr>
{% for r in rows %}
<tr><th>{{ r.name }}</th>{% for v in r['values'].values() %}<td class="num">{{ '%.2f' | format(v) }}</td>{% endfor %}
<td class="num">{{ r.flags }}</td>
<td class="num">{{ '%.3f' | format(r.precision) }} {{ ci(r.precision_ci) }}</td>
<td class="num">{{ '%.3f' | format(r.recall) }} {{ ci(r.recall_ci) }}</td>
<td class="num">{{ '%.3f' | format(r.f1) }}</td>
<td class="num">{{ '%.3f' | format(r.hard.p) }} {{ ci(r.hard_ci) }}</td>
<td class="num">{{ r.review_share | pct }}</td></tr>
{% endfor %}
</table>
<p class="muted small">Flags are contradicted, unsupported and unchecked sentences; hard flags leave out unchecked
(“needs review”). Intervals are 95% Wilson intervals.</p>

<div class="charts">
<div class="panel"><h2 style="margin-top:0">Precision–recall of flags</h2>
<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="precision-recall curve" id="pr-curve"
     width="100%" viewBox="0 0 {{ W }} {{ H }}" style="max-width: {{ W }}px">
{% for t in ticks %}
  {% set p = xy(t, t) %}
  <line x1="{{ PAD }}" y1="{{ '%.1f' | format(p[1]) }}" x2="{{ W - 10 }}" y2="{{ '%.1f' | format(p[1]) }}" stroke="#e3e6eb"></line>
  <text x="{{ PAD - 6 }}" y="{{ '%.1f' | format(p[1] + 4) }}" font-size="11" text-anchor="end" fill="#5d6472">{{ t }}</text>
  <line x1="{{ '%.1f' | format(p[0]) }}" y1="10" x2="{{ '%.1f' | format(p[0]) }}" y2="{{ H - PAD }}" stroke="#e3e6eb"></line>
  <text x="{{ '%.1f' | format(p[0]) }}" y="{{ H - PAD + 16 }}" font-size="11" text-anchor="middle" fill="#5d6472">{{ t }}</text>
{% endfor %}
  <text x="{{ (W + PAD) / 2 }}" y="{{ H - 8 }}" font-size="12" text-anchor="middle">recall</text>
  <text x="12" y="{{ (H - PAD) / 2 }}" font-size="12" text-anchor="middle" transform="rotate(-90 12 {{ (H - PAD) / 2 }})">precision</text>
{% for x, y in grid_xy %}<circle cx="{{ '%.1f' | format(x) }}" cy="{{ '%.1f' | format(y) }}" r="2.5" fill="#b8c0cc"></circle>{% endfor %}
  <polyline points="{{ curve }}" fill="none" stroke="#2c5d8a" stroke-width="2"></polyline>
{% for r in rows %}
  <circle cx="{{ '%.1f' | format(r.xy[0]) }}" cy="{{ '%.1f' | format(r.xy[1]) }}" r="6"
          fill="{{ '#c0392b' if r.name == 'chosen' else '#ffffff' }}" stroke="#1d2330" stroke-width="1.5"
          class="point-{{ r.name }}"><title>{{ r.name }}</title></circle>
{% endfor %}
</svg>
<p class="muted small">Grey: every point of the sweep; line: the best precision at each recall; filled: chosen; open: current.</p>
</div>
<div class="panel"><h2 style="margin-top:0">Confusion matrix (chosen)</h2>
<div style="overflow-x: auto"><table id="confusion" class="small">
<tr><th>label ↓ / verdict →</th>{% for l in labels %}<th class="num">{{ l.replace('_', ' ') }}</th>{% endfor %}</tr>
{% for gold, row in outcomes['chosen'].confusion.items() %}
<tr><th>{{ gold }}</th>{% for l in labels %}<td class="num">{{ row[l] }}</td>{% endfor %}</tr>
{% endfor %}
</table></div>
</div>
</div>

<h2>By kind of error (chosen)</h2>
<table id="kinds">
<tr><th>kind</th><th class="num">labelled errors</th><th class="num">caught [95% CI]</th><th class="num">flags of this kind</th>
<th class="num">real errors among them [95% CI]</th></tr>
{% for k in outcomes['chosen'].kinds %}
<tr><td>{{ k.label }}{% if k.errors < min_class %} <span class="muted small">(few)</span>{% endif %}</td>
<td class="num">{{ k.errors }}</td>
<td class="num">{% if k.errors %}{{ k.caught }} = {{ k.recall | pct }} {{ ci(k.recall_ci) }}{% else %}–{% endif %}</td>
<td class="num">{{ k.flags }}</td>
<td class="num">{% if k.flags %}{{ k.right }} = {{ k.precision | pct }} {{ ci(k.precision_ci) }}{% else %}–{% endif %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">none</td></tr>{% endfor %}
</table>
<p class="muted small">A labelled error's kind comes from the label file's <code>error</code> field (or, for reviewed
flags, the kind Veracity gave the flag); a flag's kind from the check that failed.</p>

<h2>Engine</h2>
<table>{% for k, v in versions.items() %}<tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>{% endfor %}</table>
<p class="muted small">Generated by <code>veracity calibrate {{ corpus }}</code>; the engine ran once per answer and the
thresholds were swept over its recorded scores.</p>
</main>
</body>
</html>
""")
