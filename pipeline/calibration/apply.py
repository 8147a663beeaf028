"""Writing calibrated thresholds into a corpus definition, and the calibration history beside it
(corpora/NAME.calibration.jsonl: one line per calibration, with the values it replaced)."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from pipeline.calibration.labels import CalibrationError
from pipeline.files import atomic_write
from pipeline.settings import Settings
from pipeline.store.corpora import corpus_config
from pipeline.verification.decision import load_support_model

_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def history_path(definition: Path) -> Path:
    return definition.with_name(definition.stem + ".calibration.jsonl")


def read_history(definition: Path) -> list[dict]:
    """The calibrations recorded beside a corpus definition, oldest first ([] when none)."""
    path = history_path(definition)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def set_thresholds(text: str, values: dict[str, float]) -> str:
    """The TOML text with `values` set in its [thresholds] table: a key's line is replaced where it
    stands (its trailing comment kept), a missing key goes at the table's end, a missing table at
    the end of the file. Every other line is left as it is."""
    lines = text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if (m := _TABLE.match(line)) and m.group(1) == "thresholds"), None
    )
    if start is None:
        lines += ["", "[thresholds]"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
    todo = dict(values)
    for i in range(start + 1, end):
        m = re.match(r"^(\s*)([A-Za-z_]+)(\s*=\s*)([^#]*?)(\s*#.*)?$", lines[i])
        if m and m.group(2) in todo:
            lines[i] = f"{m.group(1)}{m.group(2)}{m.group(3)}{_num(todo.pop(m.group(2)))}{m.group(5) or ''}"
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = [f"{k} = {_num(v)}" for k, v in todo.items()]
    out = "\n".join(lines) + "\n"
    tomllib.loads(out)  # never write a definition that does not parse
    return out


def _num(v: float) -> str:
    return repr(round(float(v), 4))


def write_calibration(
    definition: Path, values: dict[str, float], previous: dict[str, float], entry: dict
) -> dict:
    """Set `values` in the definition's [thresholds] (atomically) and append `entry` with the date,
    the values in force before (`previous`) and the new ones to the history file; returns it."""
    if not definition.exists():
        raise CalibrationError(f"{definition} does not exist: --write needs the corpus's definition file")
    text = definition.read_text(encoding="utf-8")
    entry = {
        "calibrated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **entry,
        "previous": previous,
        "values": values,
    }
    history = history_path(definition)
    old = history.read_text(encoding="utf-8") if history.exists() else ""
    new_text = set_thresholds(text, values)
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    atomic_write(history, lambda fh: fh.write(old + line))
    atomic_write(definition, lambda fh: fh.write(new_text))
    return entry


def in_force(name: str, settings: Settings) -> dict:
    """A corpus's thresholds in force (the learned decision's as the shipped model has it unless
    the corpus sets one) and its latest calibration: when, from how many labels, from what; None
    when never calibrated."""
    config = corpus_config(name, settings)
    thresholds = dataclasses.asdict(config.thresholds)
    if thresholds["decision"] is None:
        support = load_support_model()
        thresholds["decision"] = support.threshold if support else None
    history = read_history(settings.corpora_dir / f"{name}.toml")
    last = history[-1] if history else None
    calibration = (
        {k: last.get(k) for k in ("calibrated_at", "labels", "errors", "source", "target_precision")}
        | {"calibrations": len(history)}
        if last
        else None
    )
    return {"thresholds": thresholds, "calibration": calibration}
