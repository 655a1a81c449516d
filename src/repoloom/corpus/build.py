"""Old home of the local executor: now `repoloom.corpus.executors.local` (the scheduler),
`repoloom.corpus.executors.base` (the driver) and `repoloom.corpus.schema` (the tables). Its
public names stay importable from here."""

from repoloom.corpus.executors.base import (
    BuildResult,
    prepare_decontamination,
    repo_summary,
)
from repoloom.corpus.executors.local import (
    LocalExecutor,
    _iter_parts,
    _run_tasks,
    _write_parts,
    build_corpus,
    run_repository,
    task_key,
    tasks_fingerprint,
)
from repoloom.corpus.schema import REMOVED_SCHEMA, SAMPLE_SCHEMA, BuildError, write_table_atomic

_prepare_decontamination = prepare_decontamination

__all__ = [
    "REMOVED_SCHEMA",
    "SAMPLE_SCHEMA",
    "BuildError",
    "BuildResult",
    "LocalExecutor",
    "_iter_parts",
    "_run_tasks",
    "_write_parts",
    "build_corpus",
    "repo_summary",
    "run_repository",
    "task_key",
    "tasks_fingerprint",
    "write_table_atomic",
]
