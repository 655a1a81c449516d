"""One cross-file completion point (a record of the ``crossfile`` benchmark's data file): made
by ``builder``, given context by ``context``, scored by ``benchmark``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CrossfilePoint:
    """One completion point. ``groundtruth`` is one line without its trailing newline;
    ``left_context`` ends with the newline before it; ``right_context`` starts after it."""

    task_id: str
    repo: str
    path: str
    language: str
    left_context: str
    groundtruth: str
    right_context: str
    crossfile_names: list[str]
    line: int = 0  # 0-based line number of the ground truth in the file
    definitions: dict[str, list[str]] = field(default_factory=dict)  # name -> defining files

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> CrossfilePoint:
        names = {f for f in cls.__dataclass_fields__}
        missing = {"task_id", "path", "language", "left_context", "groundtruth"} - set(rec)
        if missing:
            raise ValueError(f"not a cross-file point record (missing {sorted(missing)})")
        kw = {k: rec[k] for k in names if k in rec}
        kw.setdefault("repo", "")
        kw.setdefault("right_context", "")
        kw.setdefault("crossfile_names", [])
        return cls(**kw)
