"""`repoloom corpus ...`: build a corpus, show one repository's order, fetch real corpora."""

from __future__ import annotations

import argparse
import json
import os
import sys

from repoloom.codebase.deps import PARSED_LANGUAGES, parse_dependencies
from repoloom.codebase.order import order_repository
from repoloom.codebase.repo import load_repository
from repoloom.codebase.sources import SourceError, expand_sources
from repoloom.config import ConfigError, flag_settings, split_sources_and_overrides
from repoloom.corpus.config import CorpusConfig, dump_config, load_config
from repoloom.corpus.fetch.cli import register_fetch
from repoloom.errors import UserError

# Flags that set a config field: argparse dest -> dotted key. `--order-mode paper` and
# `order.mode=paper` are the same override (flags first, then KEY=VALUE, over the --config YAML).
BUILD_FLAGS = {
    "order_mode": "order.mode",
    "benchmarks_dir": "decontam.benchmarks_dir",
    "decontam_hub": "decontam.hub",
}
ORDER_FLAGS = {"mode": "order.mode"}
OVERRIDES_HELP = "config overrides, e.g. dedup.threshold=0.8 (see `repoloom corpus config`)"


def register(subparsers: argparse._SubParsersAction) -> None:
    corpus = subparsers.add_parser(
        "corpus", help="repositories -> repository-level training samples"
    )
    commands = corpus.add_subparsers(dest="corpus_command", metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="build dependency-ordered samples from repositories",
        description=(
            "Each SOURCE is a repository directory, a git URL, an archive (.tar.gz, .tgz, .tar.xz, "
            ".zip; PyPI sdists, npm tarballs) or a Stack-layout table (.parquet, .jsonl: one row per "
            "file with repository name, path and content). An argument KEY=VALUE that is not an "
            "existing path overrides a config key: dedup.threshold=0.8 screening.quality=false."
        ),
    )
    build.add_argument("sources", nargs="*", metavar="SOURCE | KEY=VALUE")
    build.add_argument(
        "--repos-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="every sub-directory / archive inside is one repository (repeatable)",
    )
    build.add_argument(
        "--out", required=True, help="output directory (resumes when it holds an unfinished build)"
    )
    build.add_argument("--config", help="YAML config (see configs/corpus/default.yaml)")
    build.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: the core count)"
    )
    build.add_argument(
        "--order-mode", choices=["scc", "paper"], help="override order.mode of the config"
    )
    build.add_argument(
        "--overwrite", action="store_true", help="discard a different build found in --out"
    )
    build.add_argument(
        "--keep-work", action="store_true", help="keep per-repository intermediate files"
    )
    build.add_argument("--repo-column", help="Stack-layout tables: repository name column")
    build.add_argument("--path-column", help="Stack-layout tables: file path column")
    build.add_argument("--content-column", help="Stack-layout tables: file content column")
    build.add_argument(
        "--benchmarks-dir",
        metavar="DIR",
        help="local benchmark copy for decontamination (mbpp/, pal-math/, humaneval/; "
        "default: decontam.benchmarks_dir of the config, else $REPOLOOM_DATA)",
    )
    build.add_argument("--decontam-hub", action="store_true", help="ask MBPP/GSM8K's public hub")
    build.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: a process pool on this machine (default); ray: Ray Data (docs/corpus-ray.md)",
    )
    build.add_argument(
        "--address",
        default=None,
        help="--executor ray: the cluster (auto, ray://host:port); default: start a local runtime",
    )
    build.add_argument("--no-progress", action="store_true")
    build.set_defaults(func=cmd_build, intermixed="sources")

    order = commands.add_parser(
        "order", help="print one repository's files in sample order, with dependency edges"
    )
    order.add_argument("repo", metavar="REPO", help="a repository directory")
    order.add_argument("--mode", choices=["scc", "paper"], default=None)
    order.add_argument("--json", action="store_true", help="machine-readable output")
    order.add_argument("--config", help="YAML config")
    order.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)
    order.set_defaults(func=cmd_order, intermixed="overrides")

    config = commands.add_parser(
        "config",
        help="print the configuration (the defaults, or --config with KEY=VALUE overrides): "
        "a starting point to copy",
    )
    config.add_argument("--config", help="YAML config to print with the defaults filled in")
    config.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)
    config.set_defaults(func=cmd_config, intermixed="overrides")

    register_fetch(commands)

    corpus.set_defaults(func=lambda args: corpus.print_help() or 2)


def _load_config(
    args: argparse.Namespace, flags: dict[str, str], overrides: list[str]
) -> CorpusConfig:
    """--config YAML, then the flags that set config fields, then KEY=VALUE overrides."""
    try:
        return load_config(args.config, overrides, settings=flag_settings(args, flags))
    except ConfigError as exc:
        raise UserError(str(exc)) from exc


def funnel_line(steps: list[dict]) -> str:
    """`read 120 > language 97 > ...`: the funnel of report.json in one line (only the steps
    that drop something, the first and the last, so the line stays short)."""
    shown = []
    for i, step in enumerate(steps):
        if step["out"] != step["in"] or i in (0, len(steps) - 1):
            shown.append(f"{step['step']} {step['out']:,}")
    return " > ".join(shown)


def cmd_build(args: argparse.Namespace) -> int:
    from repoloom.corpus.executors.local import build_corpus  # heavy: pyarrow
    from repoloom.corpus.schema import BuildError

    sources, overrides = split_sources_and_overrides(args.sources)
    config = _load_config(args, BUILD_FLAGS, overrides)
    if config.decontam.enabled and not config.decontam.benchmarks_dir:
        config.decontam.benchmarks_dir = os.environ.get("REPOLOOM_DATA") or None
    if not sources and not args.repos_dir:
        raise UserError("give at least one SOURCE or --repos-dir")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    columns = (args.repo_column, args.path_column, args.content_column)
    if args.address and args.executor != "ray":
        raise UserError("--address needs --executor ray")
    try:
        if args.executor == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise UserError(
                    "--executor ray needs Ray Data: pip install 'repoloom[ray]'"
                ) from None
            from repoloom.corpus.executors.ray import build_corpus_ray

            result = build_corpus_ray(
                sources,
                args.out,
                config,
                repos_dirs=args.repos_dir,
                table_columns=columns,
                address=args.address,
                workers=args.workers,
                overwrite=args.overwrite,
                keep_work=args.keep_work,
            )
        else:
            tasks = expand_sources(sources, args.repos_dir, columns)
            result = build_corpus(
                tasks,
                args.out,
                config,
                workers=args.workers,
                overwrite=args.overwrite,
                keep_work=args.keep_work,
                progress=not args.no_progress and sys.stderr.isatty(),
            )
    except (SourceError, BuildError) as exc:
        raise UserError(str(exc)) from exc
    report = result.report
    out = args.out.rstrip("/")  # a path or a URI
    print(
        f"{report['repositories']} repositories, {report['files_in']:,} files in, {report['files_kept']:,} kept, "
        f"{report['samples']['count']:,} samples ({report['samples']['bytes'] / 1e6:.1f} MB)"
    )
    # Files after every stage, the corpus-level dedup included; the last is what the samples hold.
    print("files after each step: " + funnel_line(report["steps"]))
    for failed in report["repositories_failed"]:
        print(f"  failed: {failed['repo']}: {failed['error']}")
    for warning in report.get("warnings", []):  # issue 3: e.g. a benchmark that was not found
        print(f"WARNING: {warning}")
    print(f"samples: {out}/samples")
    print(f"removed: {out}/removed")
    print(f"report:  {out}/report.json  {out}/report.html")
    return 0


def cmd_order(args: argparse.Namespace) -> int:
    config = _load_config(args, ORDER_FLAGS, args.overrides)
    mode = config.order.mode
    if not os.path.isdir(args.repo):
        raise UserError(f"{args.repo} is not a directory")
    repo = load_repository(args.repo, config)
    result = parse_dependencies(repo.texts, repo.languages)
    parsed = sorted(p for p, lang in repo.languages.items() if lang in PARSED_LANGUAGES)
    ordered = order_repository(parsed, result.edges, mode)
    deps_of: dict[str, list[str]] = {}
    for importer, imported in ordered.edges:
        deps_of.setdefault(importer, []).append(imported)
    if args.json:
        payload = {
            "repo": str(repo.root),
            "mode": mode,
            "components": [
                [
                    {"path": p, "language": repo.languages[p], "depends_on": deps_of.get(p, [])}
                    for p in component
                ]
                for component in ordered.components
            ],
            "edges": [list(e) for e in ordered.edges],
            "cycles_broken": ordered.cycles_broken,
            "unparsed_files": sorted(
                p for p, lang in repo.languages.items() if lang and lang not in PARSED_LANGUAGES
            ),
        }
        print(json.dumps(payload, indent=1))
        return 0
    print(
        f"# {repo.root} ({mode} order; {len(ordered.edges)} edges, {ordered.cycles_broken} cycle-breaking placements)"
    )
    for number, component in enumerate(ordered.components, 1):
        if len(component) == 1 and not deps_of.get(component[0]):
            continue
        print(f"\n## sample {number} ({len(component)} files)")
        position = {p: i for i, p in enumerate(component)}
        for i, path in enumerate(component):
            deps = deps_of.get(path, [])
            late = [d for d in deps if position.get(d, -1) > i]
            note = f"  <- {', '.join(deps)}" if deps else ""
            if late:
                note += f"  (after it, cycle: {', '.join(late)})"
            print(f"{i + 1:4d}. {path}{note}")
    singles = sum(1 for c in ordered.components if len(c) == 1 and not deps_of.get(c[0]))
    print(f"\n{singles} files without in-repository dependencies stay single-file samples.")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(dump_config(_load_config(args, {}, args.overrides)), end="")
    return 0
