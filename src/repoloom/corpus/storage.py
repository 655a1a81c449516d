"""One storage layer for a build's output: a local path or a URI (``s3://``, ``gs://``, ``hf://``,
``file://``, ...), through ``pyarrow.fs`` (fsspec filesystems wrapped when pyarrow has none).

Both executors' driver reads and writes the output through a `Store`: the manifest, the stage
markers, the final Parquet parts and the report. On a local filesystem every file is written
under a temporary name and renamed (a kill never leaves half a file); object stores publish a
file only when its upload completes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from repoloom.corpus.schema import BuildError, parquet_codec


def resolve_filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) for a local path or a URI."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), str(Path(uri).resolve())
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    try:  # hf://, memory://, ... through fsspec, when the user has that filesystem installed
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise BuildError(f"no filesystem for {uri}: {exc}") from exc
    return PyFileSystem(FSSpecHandler(fs)), path


class Store:
    """The output location: small JSON files and markers, Parquet files and directories of parts.
    Every method takes the path inside the store as parts (``store.exists("_work", "x.json")``)."""

    def __init__(self, uri: str | Path) -> None:
        self.uri = str(uri)
        self.fs, self.root = resolve_filesystem(self.uri)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def local_path(self, *parts: str) -> Path:
        """The local path of a location (only for a store on the local filesystem)."""
        if not self.is_local:
            raise BuildError(f"{self.uri} is not on the local filesystem")
        return Path(self.path(*parts))

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def read_json(self, *parts: str) -> dict:
        with self.fs.open_input_stream(self.path(*parts)) as handle:
            return json.loads(handle.read().decode("utf-8"))

    def write_bytes(self, data: bytes, *parts: str) -> None:
        target = self.path(*parts)
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        tmp = f"{target}.tmp" if self.is_local else target
        with self.fs.open_output_stream(tmp) as handle:
            handle.write(data)
        if tmp != target:
            self.fs.move(tmp, target)  # a rename: atomic on one filesystem

    def write_json(self, obj: dict, *parts: str) -> None:
        """JSON with sorted keys (stable bytes run to run), non-ASCII kept as is."""
        text = json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False)
        self.write_bytes(text.encode("utf-8"), *parts)

    def is_done(self, *parts: str) -> bool:
        """Whether the stage writing this location finished (its ``.done`` marker is there)."""
        *head, last = parts
        return self.exists(*head, f"{last}.done")

    def mark_done(self, *parts: str, info: dict | None = None) -> None:
        *head, last = parts
        self.write_json(info or {}, *head, f"{last}.done")

    def write_table(self, table: pa.Table, *parts: str, compression: str | None = None) -> None:
        """One Parquet file (under a temporary name first on a local filesystem)."""
        target = self.path(*parts)
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        tmp = f"{target}.tmp" if self.is_local else target
        pq.write_table(table, tmp, filesystem=self.fs, compression=parquet_codec(compression))
        if tmp != target:
            self.fs.move(tmp, target)

    def write_dataset(
        self, dataset: Any, schema: pa.Schema, *parts: str, rows_per_file: int | None = None
    ) -> None:
        """Write a Ray dataset as Parquet parts; an empty one still leaves one typed, empty part
        (Ray writes no file for no rows), as the local executor does."""
        target = self.path(*parts)
        dataset.write_parquet(target, filesystem=self.fs, max_rows_per_file=rows_per_file)
        if not self.parquet_files(*parts):
            self.fs.create_dir(target, recursive=True)
            pq.write_table(schema.empty_table(), f"{target}/part-00000.parquet", filesystem=self.fs)

    def parquet_files(self, *parts: str) -> list[str]:
        selector = pafs.FileSelector(self.path(*parts), recursive=True, allow_not_found=True)
        return sorted(
            i.path for i in self.fs.get_file_info(selector) if i.path.endswith(".parquet")
        )

    def remove(self, *parts: str) -> None:
        info = self.fs.get_file_info(self.path(*parts))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(*parts))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(*parts))
