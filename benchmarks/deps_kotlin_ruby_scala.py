"""Kotlin, Ruby and Scala dependency edges measured against an independent view of the same code.

Precision and recall of the intra-repository edges of ``repoloom.codebase.deps.parse_dependencies``
per language, on real projects pinned by commit, against:
- Ruby: Ruby itself. ``RubyVM::AbstractSyntaxTree`` (Ruby's own parser) finds every call of
  ``require``/``require_relative``/``load``/``autoload``; a string argument is taken as is, a
  computed one built from ``__FILE__``/``__dir__`` (``File.expand_path("../x", __FILE__)``) is
  evaluated by Ruby with the importer's file name; features resolve with
  ``$LOAD_PATH.resolve_feature_path`` on the load path the project's tools set (each gemspec's
  ``require_paths`` evaluated by RubyGems, plus the ``test/``/``spec/`` beside it, as rake's
  TestTask and RSpec add them; Ruby's standard library stays on the path, so ``require "set"`` is
  the library's, not a repository file). The script is ``RUBY_REFERENCE`` below.
- Kotlin and Scala: no compiler here (kotlinc/scalac are not installed, and compiling these
  projects would need their library dependencies). The reference is an independent resolver over
  the tree-sitter syntax trees (``tree-sitter-kotlin`` / ``tree-sitter-scala``, not the regexes
  the parser uses): package headers and top-level declarations from the AST, imports from the
  import nodes, references from the identifier nodes that are not member selections. It applies
  the languages' scope rules: explicit imports, then the file's own package(s) (Scala: every
  package of its package clauses, nested packages and package objects), then wildcard imports of
  packages (only the declarations the file names); Scala imports are tried relative to the
  enclosing packages, innermost first. A declaration in several source sets resolves to the one in
  the importer's source set (the ``src/<set>/`` directory), else to every copy. A sample of the
  disagreements was audited by hand (BENCHMARKS.md).

The projects are GitHub repositories pinned by commit, read from git mirrors (``--mirrors``,
default ``/work/.mirror``, laid out as ``owner+name/repo``) and exported into
``data/deps-kotlin-ruby-scala/`` with ``git archive``. Run:

    PYTHONPATH=src .venv/bin/python benchmarks/deps_kotlin_ruby_scala.py [--only kotlin,ruby,scala]

It prints a Markdown table and writes the misses to ``data/deps-kotlin-ruby-scala/report.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deps_common import fmt_row, prf  # noqa: E402

from repoloom.codebase.deps import parse_dependencies  # noqa: E402
from repoloom.codebase.languages import identify_language  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "data" / "deps-kotlin-ruby-scala"
PROJECTS = {  # language: {owner/name: commit}
    "kotlin": {
        "square/okio": "4164f2976ac7174f3d35d52150e8ffbdbe0acbec",
        "square/kotlinpoet": "be2de914ce6eb3694092ed4e0f28626cbce1ffe0",
    },
    "scala": {
        "scopt/scopt": "75cd14c9e1f517e9d1beb8de9e3427e40630f1cb",
        "typelevel/cats": "7f2dce5162074c0a0ebc597b89b6cd25e5fe0536",
        "circe/circe": "1da94272096eedd88a6ea04be127618ef8cf943a",
    },
    "ruby": {
        "rack/rack": "8bf4eb078498edc9105fb04add80d89c5340e60b",
        "sinatra/sinatra": "cb22afd7902b566b6eaba6c4ea89739494a65d12",
        "rubocop/rubocop": "3a42c622171794510e03999c8d55129b73c5dc8f",
        "rails/rails": "2a2db1e8d6d104ee0611efcae7eb023af65cff34",
    },
}


def export(mirrors: Path, repo: str, commit: str) -> Path:
    """The repository's tree at `commit` under OUT (exported once)."""
    dest = OUT / "src" / f"{repo.replace('/', '+')}-{commit[:12]}"
    if dest.is_dir():
        return dest
    base = mirrors / repo.replace("/", "+") / "repo"
    git_dir = base / ".git" if (base / ".git").is_dir() else base
    if not git_dir.exists():
        raise SystemExit(f"{repo}: no git mirror at {base} (fetch it first)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent))
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "--git-dir", str(git_dir), "archive", commit],
                       stdout=archive, check=True)  # fmt: skip
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(tmp, filter="data")
    tmp.rename(dest)
    return dest


def load(root: Path) -> tuple[dict[str, str], dict[str, str | None]]:
    files: dict[str, str] = {}
    languages: dict[str, str | None] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        rel = p.relative_to(root).as_posix()
        try:
            files[rel] = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        languages[rel] = identify_language(rel)
    return files, languages


def ours(files: dict[str, str], languages: dict[str, str | None], language: str) -> set:
    edges = parse_dependencies(files, languages).edges
    return {
        (a, b) for a, b in edges if languages.get(a) == language and languages.get(b) == language
    }


# ----------------------------------------------------------------------------------- ruby

RUBY_REFERENCE = Path(__file__).resolve().parent / "deps_ruby_reference.rb"


def reference_ruby(root: Path, languages: dict[str, str | None]) -> tuple[set, set]:
    paths = sorted(p for p, lang in languages.items() if lang == "ruby")
    proc = subprocess.run(["ruby", str(RUBY_REFERENCE), str(root)],
                          input="\n".join(paths), capture_output=True, text=True, check=True)  # fmt: skip
    answer = json.loads(proc.stdout)
    edges = {(a, b) for a, b in answer["edges"] if languages.get(b) == "ruby" and a != b}
    return edges, set(answer["unparsed"])


# --------------------------------------------------------------------- kotlin and scala (AST)


def _parser(language: str):
    import tree_sitter

    module = __import__(f"tree_sitter_{language}")
    return tree_sitter.Parser(tree_sitter.Language(module.language()))


def _text(node) -> str:
    return node.text.decode("utf-8", "replace")


def _source_set(path: str) -> str:
    """`okio/src/jvmMain/kotlin/okio/X.kt` -> `okio/src/jvmMain` (the compilation unit)."""
    parts = path.split("/")
    if "src" in parts:
        i = len(parts) - 1 - parts[::-1].index("src")
        return "/".join(parts[: i + 2])
    return parts[0] if len(parts) > 1 else ""


def _choose(importer: str, files: list[str], platform: set[str] = frozenset()) -> list[str]:
    """Kotlin `expect`/`actual` copies: all of them; else the importer's source set's copy, or
    every copy when it has none."""
    copies = [f for f in files if f in platform]
    if len(copies) > 1:
        return copies
    same = [f for f in files if _source_set(f) == _source_set(importer)]
    return same or files


_DECLARING = frozenset(
    {
        "class_declaration",
        "object_declaration",
        "function_declaration",
        "variable_declaration",
        "class_definition",
        "object_definition",
        "trait_definition",
        "function_definition",
        "enum_definition",
        "type_definition",
    }
)


def _scala_choose(importer: str, files: list[str]) -> list[str]:
    """Cross-built copies (`scala-2/`, `scala-3/`, `scala-2.13+/`): the importer's version's copy
    when it is version-specific, all of them from shared code; else as `_choose`."""

    def version(path: str) -> str | None:
        return next((p for p in path.split("/")[:-1] if re.fullmatch(r"scala-\d.*", p)), None)

    if len(files) > 1 and all(version(f) for f in files):
        mine = version(importer)
        if mine is None:
            return files
        return [f for f in files if version(f) == mine] or files
    return _choose(importer, files)


def _references(node, skip_types: frozenset[str], member_parent: dict[str, int]) -> set[str]:
    """Identifier texts of the tree that are not member selections (``x.NAME``) and not inside
    the node types of `skip_types` (package and import clauses)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in skip_types:
            continue
        if n.type in ("identifier", "type_identifier", "simple_identifier"):
            parent = n.parent
            if (
                parent is not None
                and parent.type in _DECLARING
                and (
                    parent.child_by_field_name("name") == n
                    or (parent.type == "variable_declaration" and parent.named_children[0] == n)
                )
            ):
                continue  # the name a declaration introduces
            index = member_parent.get(parent.type) if parent is not None else None
            if index is None or parent.named_children.index(n) < index:
                out.add(_text(n))
            continue
        stack.extend(n.children)
    return out


def _kotlin_file(parser, text: str) -> dict:
    root = parser.parse(text.encode("utf-8", "surrogatepass")).root_node
    pkg, imports, decls, platform = "", [], set(), False
    for child in root.named_children:
        if child.type == "package_header":
            pkg = "".join(_text(child.named_children[0]).split())
            continue
        if child.type == "import":
            ids = [c for c in child.named_children]
            name = "".join(_text(ids[0]).split()) if ids else ""
            star = _text(child).replace(" ", "").rstrip().endswith(".*")
            alias = _text(ids[1]) if len(ids) > 1 and ids[1].type == "identifier" else None
            imports.append((name, star, alias))
        mods = next((c for c in child.named_children if c.type == "modifiers"), None)
        if mods is not None and {"expect", "actual"} & set(_text(mods).split()):
            platform = True
        if child.type in ("class_declaration", "object_declaration", "function_declaration"):
            name = child.child_by_field_name("name")
            if name is not None:
                decls.add(_text(name))
        elif child.type == "type_alias":
            name = child.child_by_field_name("type")
            if name is not None:
                decls.add(_text(name))
        elif child.type == "property_declaration":
            for var in child.named_children:
                if var.type == "variable_declaration" and var.named_children:
                    decls.add(_text(var.named_children[0]))
    refs = _references(root, frozenset({"package_header", "import"}), {"navigation_expression": 1})
    # A user type `a.b.C` is a chain of identifiers: only its first one is a simple name.
    return {
        "pkg": pkg,
        "imports": imports,
        "decls": decls,
        "refs": refs,
        "platform": platform,
        "broken": root.has_error,
    }


def reference_kotlin(files: dict[str, str], languages: dict[str, str | None]) -> tuple[set, set]:
    parser = _parser("kotlin")
    info = {p: _kotlin_file(parser, t) for p, t in files.items() if languages.get(p) == "kotlin"}
    fq: dict[str, list[str]] = defaultdict(list)
    by_pkg: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, f in sorted(info.items()):
        for d in sorted(f["decls"]):
            fq[f"{f['pkg']}.{d}" if f["pkg"] else d].append(path)
            by_pkg[f["pkg"]][d].append(path)
    platform = {p for p, f in info.items() if f["platform"]}
    edges: set = set()
    for path, f in info.items():
        explicit: set[str] = set()
        for name, star, alias in f["imports"]:
            parts = name.split(".")
            if star and name in by_pkg:
                for d, where in by_pkg[name].items():
                    if d in f["refs"]:
                        edges.update((path, w) for w in _choose(path, where, platform))
                continue
            explicit.add(alias or parts[-1])
            for n in range(len(parts), 0, -1):
                where = fq.get(".".join(parts[:n]))
                if where:
                    edges.update((path, w) for w in _choose(path, where, platform))
                    break
        for d, where in by_pkg.get(f["pkg"], {}).items():
            if d in f["refs"] and d not in explicit:
                edges.update((path, w) for w in _choose(path, where, platform))
    broken = {p for p, f in info.items() if f["broken"]}
    return {(a, b) for a, b in edges if a != b}, broken


def _scala_collect(node, scopes: list[str], visible: list[str], out: dict) -> None:
    """Walk statements: package clauses, package objects, top-level definitions, imports."""
    for child in node.named_children:
        kind = child.type
        if kind == "package_clause":
            name = "".join(_text(child.child_by_field_name("name")).split())
            full = f"{scopes[-1]}.{name}" if scopes[-1] else name
            body = child.child_by_field_name("body")
            if body is not None:
                out["packages"].add(full)
                _scala_collect(body, [*scopes, full], [*visible, full], out)
            else:
                scopes[-1] = full
                visible.append(full)
                out["packages"].add(full)
            continue
        if kind == "package_object":
            name = _text(child.child_by_field_name("name"))
            out["defs"].add((scopes[-1], name))
            inner = f"{scopes[-1]}.{name}" if scopes[-1] else name
            body = child.child_by_field_name("body")
            for member in body.named_children if body is not None else []:
                member_name = member.child_by_field_name("name") or member.child_by_field_name(
                    "pattern"
                )
                if member_name is not None and member.type.endswith("definition"):
                    out["defs"].add((inner, _text(member_name)))
            out["packages"].add(inner)
            continue
        if kind.endswith("_definition") or kind == "given_definition":
            name = child.child_by_field_name("name") or child.child_by_field_name("pattern")
            if name is not None and name.type in ("identifier", "type_identifier"):
                out["defs"].add((scopes[-1], _text(name)))
        if kind == "import_declaration":
            out["imports"].append((child, list(visible)))
    # imports nested in class/object bodies
    for sub in node.named_children:
        if sub.type not in ("package_clause", "package_object", "import_declaration"):
            stack = [sub]
            while stack:
                n = stack.pop()
                if n.type == "import_declaration":
                    out["imports"].append((n, list(visible)))
                    continue
                stack.extend(n.named_children)


def _scala_import(node) -> list[tuple[list[str], list[str]]]:
    """(path, selectors) of one import declaration; selector ``_`` is a wildcard."""
    path: list[str] = []
    clauses: list[tuple[list[str], list[str]]] = []
    for c in node.named_children:
        if c.type in ("identifier", "type_identifier"):
            path.append(_text(c))
        elif c.type == "namespace_wildcard":
            clauses.append((path, ["_"]))
            path = []
        elif c.type == "namespace_selectors":
            names = []
            for s in c.named_children:
                if s.type == "namespace_wildcard":
                    names.append("_")
                elif s.type in ("identifier", "type_identifier"):
                    names.append(_text(s))
                elif s.named_children:
                    names.append(_text(s.named_children[0]))
            clauses.append((path, names))
            path = []
        elif c.type == "as_renamed_identifier" and c.named_children:
            clauses.append((path, [_text(c.named_children[0])]))
            path = []
    if path:
        clauses.append((path[:-1], [path[-1]]))
    return clauses


def reference_scala(files: dict[str, str], languages: dict[str, str | None]) -> tuple[set, set]:
    parser = _parser("scala")
    info = {}
    for p, t in files.items():
        if languages.get(p) != "scala":
            continue
        root = parser.parse(t.encode("utf-8", "surrogatepass")).root_node
        out: dict = {"defs": set(), "imports": [], "packages": {""}}
        _scala_collect(root, [""], [""], out)
        skip = frozenset({"import_declaration", "package_identifier"})
        out["refs"] = _references(root, skip, {"field_expression": 1, "stable_type_identifier": 1})
        out["broken"] = root.has_error
        info[p] = out
    fq: dict[str, list[str]] = defaultdict(list)
    by_pkg: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in info.values():
        if len(f["packages"]) > 1:  # the empty package is not visible from a named one
            f["packages"].discard("")
    for path, f in sorted(info.items()):
        for pkg, name in sorted(f["defs"]):
            fq[f"{pkg}.{name}" if pkg else name].append(path)
            by_pkg[pkg][name].append(path)
    edges: set = set()
    for path, f in info.items():
        for node, visible in f["imports"]:
            for prefix, names in _scala_import(node):
                absolute = prefix[:1] == ["_root_"]
                bases = [prefix[1:]] if absolute else []
                if not absolute:
                    bases = [[*pkg.split("."), *prefix] for pkg in reversed(visible) if pkg]
                    bases.append(prefix)
                for base in bases:
                    hit = False
                    key = ".".join(base)
                    for name in names:
                        if name == "_" and key in by_pkg:
                            hit = True
                            # a package object's implicits are used without being named
                            edges.update((path, w) for w in _scala_choose(path, fq.get(key, [])))
                            for d, where in by_pkg[key].items():
                                if d in f["refs"]:
                                    edges.update((path, w) for w in _scala_choose(path, where))
                            continue
                        parts = base if name == "_" else [*base, name]
                        for n in range(len(parts), len(base) - len(prefix), -1):
                            where = fq.get(".".join(parts[:n]))
                            if where:
                                edges.update((path, w) for w in _scala_choose(path, where))
                                hit = True
                                break
                    if hit:
                        break
        for pkg in f["packages"]:
            for d, where in by_pkg.get(pkg, {}).items():
                if d in f["refs"]:
                    edges.update((path, w) for w in _scala_choose(path, where))
    broken = {p for p, f in info.items() if f["broken"]}
    return {(a, b) for a, b in edges if a != b}, broken


# -------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="kotlin,ruby,scala")
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    rows = []
    references = {
        "kotlin": ("tree-sitter-kotlin resolver", lambda root, f, lang: reference_kotlin(f, lang)),
        "scala": ("tree-sitter-scala resolver", lambda root, f, lang: reference_scala(f, lang)),
        "ruby": ("ruby 3.1 AST + resolve_feature_path", lambda root, f, lang: reference_ruby(root, lang)),
    }  # fmt: skip
    for language in args.only.split(","):
        tool, reference = references[language]
        total_ours: set = set()
        total_truth: set = set()
        for repo, commit in PROJECTS[language].items():
            root = export(args.mirrors, repo, commit)
            files, languages = load(root)
            truth, broken = reference(root, files, languages)
            # Files the reference's grammar cannot parse are left out on both sides (their
            # declarations are lost in its ERROR nodes); the report lists them.
            mine = {e for e in ours(files, languages, language) if not broken & set(e)}
            truth = {e for e in truth if not broken & set(e)}
            r = prf(mine, truth)
            rows.append(fmt_row(f"{language}: {repo}", r, tool, f"`{commit[:12]}`"))
            report[repo] = {
                "false_positives": sorted(mine - truth),
                "false_negatives": sorted(truth - mine),
                "left_out_unparsed": sorted(broken),
            }
            total_ours |= {(repo, *e) for e in mine}
            total_truth |= {(repo, *e) for e in truth}
        corpus = f"{len(PROJECTS[language])} GitHub projects"
        rows.append(fmt_row(f"**{language}**", prf(total_ours, total_truth), tool, corpus))
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    print("| language | reference | corpus | reference edges | our edges | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
