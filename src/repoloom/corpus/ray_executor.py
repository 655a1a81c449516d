"""Old home of the Ray Data executor: now `repoloom.corpus.executors.ray` (the scheduler),
`repoloom.corpus.executors.ray_steps` (its Ray Data functions), `repoloom.corpus.storage` (local
paths and URIs) and `repoloom.corpus.schema` (the tables). Its public names stay importable from
here."""

# ruff: noqa: F403, F405 (a re-export shim: the Ray Data functions and tables come in by star imports)

from repoloom.corpus.executors.base import STOP_AFTER_ENV, BuildResult
from repoloom.corpus.executors.ray import (
    RayExecutor,
    build_corpus_ray,
    check_reachable,
    connect,
    iter_output,
)
from repoloom.corpus.executors.ray_steps import *
from repoloom.corpus.schema import *
from repoloom.corpus.storage import Store, resolve_filesystem

__all__ = [
    "DOC_SCHEMA",
    "KILL_ONCE_ENV",
    "PAIRS_SCHEMA",
    "RAW_SCHEMA",
    "REMOVED_SCHEMA",
    "REPO_SCHEMA",
    "SAMPLE_SCHEMA",
    "STOP_AFTER_ENV",
    "BuildError",
    "BuildResult",
    "RayExecutor",
    "RaySources",
    "Store",
    "bands_batch",
    "build_corpus_ray",
    "check_reachable",
    "connect",
    "file_steps_batch",
    "final_samples_batch",
    "is_table_uri",
    "iter_output",
    "pairs_group",
    "plan_sources",
    "read_task_files",
    "removed_batch",
    "repository_batch",
    "resolve_filesystem",
    "select_docs_batch",
    "sign_batch",
    "table_columns_of",
    "table_rows_to_raw",
]
