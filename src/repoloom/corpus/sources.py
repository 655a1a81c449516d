"""Moved to `repoloom.codebase.sources` (with `files`, `archives` and `tables` beside it); this
name stays for one release."""

from repoloom.codebase.archives import _read_tar_entries, _zip_member_name  # noqa: F401
from repoloom.codebase.files import common_top_dir as _common_top_dir  # noqa: F401
from repoloom.codebase.files import is_vcs_path as _is_vcs_path  # noqa: F401
from repoloom.codebase.files import unique_name as _unique  # noqa: F401
from repoloom.codebase.sources import *  # noqa: F403
from repoloom.codebase.sources import _cloned, _iter_source_files  # noqa: F401
from repoloom.codebase.tables import _open_text_table  # noqa: F401
from repoloom.codebase.tables import jsonl_tasks as _jsonl_tasks  # noqa: F401
from repoloom.codebase.tables import parquet_tasks as _parquet_tasks  # noqa: F401
from repoloom.codebase.tables import pick_column as _pick_column  # noqa: F401
from repoloom.codebase.tables import table_file as _table_file  # noqa: F401
