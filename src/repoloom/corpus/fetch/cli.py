"""``repoloom corpus fetch``: download a pinned corpus of real repositories."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from repoloom.corpus.fetch.fetcher import fetch_manifest
from repoloom.corpus.fetch.manifest import load_manifest


def register_fetch(corpus_subparsers: argparse._SubParsersAction) -> None:
    """Add ``fetch`` to the ``repoloom corpus`` subcommands."""
    p = corpus_subparsers.add_parser(
        "fetch",
        help="download a pinned corpus (PyPI sdists, npm tarballs, Debian source packages, JDK)",
        description=(
            "Fetch the artefacts of a manifest into DIR, verifying each against its pinned "
            "sha256. Archives stay archives; .deb packages and the JDK's src.zip become "
            "directories. Re-running skips what is already there. The result is a directory "
            "of repositories for `repoloom corpus build --repos-dir DIR`."
        ),
    )
    p.add_argument(
        "--manifest",
        required=True,
        metavar="NAME_OR_PATH",
        help="a built-in manifest (demo, benchmark) or a path to a manifest YAML",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    p.add_argument("--jobs", type=int, default=6, help="downloads in parallel (default 6)")
    p.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept entries without a sha256 and record the downloaded one in the lock file",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    result = fetch_manifest(
        manifest,
        args.out,
        jobs=args.jobs,
        allow_unpinned=args.allow_unpinned,
        progress=not args.no_progress,
    )
    n_repos = sum(len(e.outputs) for e in result.entries)
    mb = sum(e.n_bytes for e in result.entries) / 1e6
    dl = sum(e.artefact_bytes for e in result.entries if not e.skipped) / 1e6
    Console(stderr=True).print(
        f"[bold]{manifest.name}[/]: {n_repos} repositories ({mb:.1f} MB of files) in "
        f"{result.out_dir}; {result.n_fetched} artefact(s) fetched ({dl:.1f} MB), "
        f"{result.n_skipped} already present. Lock: {result.lock_path}"
    )
    return 0
