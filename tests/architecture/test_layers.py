"""Dependencies run one way: ingest <- store <- retrieval <- verification <- audit / review / calibration <- cli,
with the ground floor (records, settings, text helpers, loaded models) below every stage."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.settings import PROJECT_ROOT

PIPELINE = PROJECT_ROOT / "pipeline"
GROUND = {"schema", "settings", "text", "files", "segments", "models", "db", "__init__"}
LAYER = {
    "ingest": 1,
    "store": 2,
    "retrieval": 3,
    "verification": 4,
    "audit": 5,
    "review": 5,
    "calibration": 5,
    "cli": 6,
}


def layer(module: str) -> int:
    """0 for the ground floor, else the stage's rank; `module` is a dotted name below pipeline."""
    top = module.split(".")[0]
    return 0 if top in GROUND else LAYER[top]


def imported(path: Path) -> set[str]:
    """pipeline.* modules a file imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline."):
            names.add(node.module.removeprefix("pipeline."))
        elif isinstance(node, ast.Import):
            names |= {a.name.removeprefix("pipeline.") for a in node.names if a.name.startswith("pipeline.")}
    return names


def test_stages_import_only_earlier_stages_and_the_ground_floor():
    backwards = []
    for path in sorted(PIPELINE.rglob("*.py")):
        module = ".".join(path.relative_to(PIPELINE).with_suffix("").parts)
        for dep in imported(path):
            if layer(dep) > layer(module):
                backwards.append(f"{module} imports {dep}")
    assert backwards == []


def test_the_library_imports_no_web_code():
    """Only the `veracity` command (pipeline/cli.py, whose `serve` starts the API) reaches api/."""
    web = [
        f"{path.relative_to(PROJECT_ROOT)}: {node.module}"
        for path in PIPELINE.rglob("*.py")
        if path != PIPELINE / "cli.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").split(".")[0] in {"api", "fastapi", "starlette"}
    ]
    assert web == []
