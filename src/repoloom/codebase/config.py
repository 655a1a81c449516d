"""Settings of reading a repository and of rendering its files into samples.

They are sections of the corpus build configuration (``read`` and ``order`` in
`repoloom.corpus.config.CorpusConfig`, validated there) and stand here because repository reading
(`repoloom.codebase.sources`) and sample rendering (`repoloom.codebase.render`) use them outside
a corpus build too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReadConfig:
    max_file_bytes: int = 1_000_000  # The Stack's cap: larger files are dropped, never read whole
    binary_probe_bytes: int = 8192  # a NUL byte in this prefix marks a file binary
    max_archive_bytes: int = 4_000_000_000  # decompressed bytes read from one archive at most
    max_archive_members: int = 500_000  # members of one archive at most (bomb guard)
    max_repo_files: int = 1_000_000


@dataclass
class OrderConfig:
    mode: str = "scc"  # "scc" (SCC condensation + Algorithm 1 inside) or "paper" (Algorithm 1)
    header_template: str = "# {path}"  # line put before every file of a multi-file sample
    header_single_files: bool = False  # also put the header before single-file samples
    unparsed_mode: str = "file"  # languages without a parser: "file" samples or "random" order
    seed: int = 0  # seeds the "random" order, per repository
    max_sample_bytes: int = 8_000_000  # larger components are split into consecutive samples
