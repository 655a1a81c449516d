"""The seven PAL math sets of the report (GSM8K, MATH, GSM-Hard, SVAMP, ASDiv, MAWPS, TabMWP):
where each lies under a benchmark directory, its public dataset if any, and its raw records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import repoloom.benchdata.hub as hub
from repoloom.benchdata.local import DataNotFound, read_json_records


@dataclass(frozen=True)
class MathSet:
    key: str
    files: tuple[str, ...]  # relative to the data dir; a glob for several files
    hub: tuple[str, str] | None = None  # (dataset repo, file pattern)


SETS: dict[str, MathSet] = {
    s.key: s
    for s in (
        MathSet(
            "gsm8k",
            ("pal-math/gsm8k/test.json", "gsm8k/test.jsonl", "gsm8k/test.json"),
            ("openai/gsm8k", "main/test-*"),
        ),
        MathSet("math", ("pal-math/math/test.json", "math/test.jsonl", "math/test.json")),
        MathSet(
            "gsm-hard", ("pal-math/gsm-hard/test.json",), ("reasoning-machines/gsm-hard", "*.jsonl")
        ),
        MathSet("svamp", ("pal-math/svamp/test.json",)),
        MathSet("asdiv", ("pal-math/asdiv/test.json",)),
        MathSet("mawps", ("pal-math/mawps/*.jsonl",)),
        MathSet("tabmwp", ("pal-math/tabmwp/test.json", "pal-math/tabmwp/problems_test.json")),
    )
}


def _records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8").lstrip()
    if text.startswith("{") and "\n" not in text.strip():
        obj = json.loads(text)  # TabMWP: one object keyed by problem id (or a one-row JSONL)
        if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
            return [{"_id": k, **v} for k, v in obj.items()]
        return [obj]
    return read_json_records(path)


def math_records(
    spec: MathSet, data_dir: Path | None, what: str = ""
) -> tuple[list[tuple[str, dict]], str]:
    """(task id, raw record) of a math set from the local copy, else its public hub; and where
    they came from. Read by the PAL-math benchmark and by corpus decontamination."""
    what = what or f"pal-{spec.key}"
    rows: list[tuple[str, dict]] = []
    where: list[str] = []
    if data_dir is not None:
        for pattern in spec.files:
            for path in sorted(data_dir.glob(pattern)):
                stem = path.parent.name if path.name.startswith(("test", "problems")) else path.stem
                rows += [(f"{stem}/{r.get('_id', i)}", r) for i, r in enumerate(_records(path))]
                where.append(str(path))
            if rows:
                break
    if rows:
        return rows, ", ".join(where)
    if spec.hub is None:
        raise DataNotFound(
            f"{what}: no local copy (--data-dir with {spec.files[0]}) and no public source "
            "configured for it"
        )
    recs = hub.hub_records(*spec.hub, what, f"--data-dir with {spec.files[0]}")
    return [(f"{spec.key}/{i}", r) for i, r in enumerate(recs)], f"hub:{spec.hub[0]}"
