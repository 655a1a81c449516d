"""Dependency extraction measured against each toolchain's own view of the same real code.

Precision and recall of the intra-repository edges of ``repoloom.codebase.deps.parse_dependencies``
per language, against:
- Python: grimp 3.19 (``build_graph``, direct imports between the modules of one package);
- C/C++: ``gcc -MM -MG`` with the ``-I`` dirs of each project's setup.py; gcc reports the
  transitive closure of a source file's headers, so the pairs compared are
  (source file, repository header) in the transitive closure of our edges;
- Java: ``jdeps -verbose:class -filter:none`` on the class files of five JDK 17 modules, against
  the same modules' sources (``src.zip`` of the same Debian build); classes map to their source
  file (nested classes to the outer class's file);
- JS/TS: dependency-cruiser 16.10.4 (``--ts-pre-compilation-deps``) on npm packages.

Everything is fetched with pinned versions into ``~/.cache/repoloom/deps-bench`` (never into the
repository): ``pip download --no-binary :all:``, ``npm pack``, ``apt-get download``; the tools
(grimp, dependency-cruiser, typescript, the tree-sitter wheels) go to the same cache. Run:

    .venv/bin/python benchmarks/deps_accuracy.py [--only python,c,java,js] [--speed]

and it prints a Markdown table (and writes misses to ``~/.cache/repoloom/deps-bench/report.json``).
``--speed`` adds the regex-versus-tree-sitter comparison (statement agreement and MB/s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.progress import track

from repoloom.codebase.deps import parse_dependencies
from repoloom.codebase.deps._base import mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deps_common import CACHE, fmt_row, load_repo, prf, run  # noqa: E402

console = Console(stderr=True)

PY_SDISTS = {  # name==version: (package import name, directory holding it)
    "rich==15.0.0": ("rich", ""),
    "jinja2==3.1.6": ("jinja2", "src"),
    "click==8.5.1": ("click", "src"),
    "httpx==0.28.1": ("httpx", ""),
    "requests==2.34.2": ("requests", "src"),
    "pygments==2.21.0": ("pygments", ""),
    "sqlalchemy==2.1.9": ("sqlalchemy", "lib"),
}
C_SDISTS = {  # name==version: -I dirs of the project's build (setup.py), relative to the sdist
    "brotli==1.2.1": ["c/include"],
    "greenlet==3.5.6": ["src/greenlet"],
    "kiwisolver==1.5.1": ["."],
    "psutil==7.2.2": ["."],
    # ujson's setup.py, plus the root that double-conversion's own build adds for its tests
    "ujson==6.1.0": [
        "src/ujson",
        "src/ujson/deps/double-conversion/double-conversion",
        "src/ujson/deps/double-conversion",
    ],
    "zstandard==0.25.0": ["c-ext", "zstd"],
}
JAVA_MODULES = ["java.xml", "java.management", "java.net.http", "java.sql", "java.logging"]
JDK_DEB = "openjdk-17-jdk-headless=17.0.21.1+2-1~deb12u1"
JDK_SRC_DEB = "openjdk-17-source=17.0.21.1+2-1~deb12u1"
NPM = {  # name@version: sub-directory compared (dependency-cruiser runs on it)
    "axios@1.7.9": "lib",
    "lodash-es@4.17.21": ".",
    "zod@3.23.8": "lib",
    "date-fns@3.6.0": ".",
    "rxjs@7.8.1": "src",
    "@tanstack/query-core@5.62.0": "src",
}
NPM_TOOLS = ["dependency-cruiser@16.10.4", "typescript@5.6.3"]
TS_WHEELS = [
    "tree-sitter==0.25.2",
    "tree-sitter-python==0.25.0",
    "tree-sitter-java==0.23.5",
    "tree-sitter-c==0.24.2",
    "tree-sitter-cpp==0.23.4",
    "tree-sitter-javascript==0.25.0",
    "tree-sitter-typescript==0.23.2",
]


# ----------------------------------------------------------------------------------- fetching


def fetch_sdist(spec: str, dest: Path) -> Path:
    name, ver = spec.split("==")
    out = CACHE / "src"
    out.mkdir(parents=True, exist_ok=True)
    want = f"{name}-{ver}".lower().replace("_", "-")

    def find() -> Path | None:
        for d in sorted(out.iterdir()):
            if d.is_dir() and d.name.lower().replace("_", "-") == want:
                return d
        return None

    found = find()
    if found is not None:
        return found
    dest.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
         "-d", str(dest), spec])  # fmt: skip
    for f in sorted(dest.iterdir()):
        if f.name.lower().replace("_", "-").startswith(want) and f.name.endswith(".tar.gz"):
            with tarfile.open(f) as t:
                t.extractall(out, filter="data")
    found = find()
    if found is None:
        raise RuntimeError(f"{spec}: no sdist directory {want} after download")
    return found


def tool_path(name: str) -> Path:
    tools = CACHE / "tools"
    if name == "pytools":
        target = tools / "py"
        if not (target / "grimp").exists() or not (target / "tree_sitter_typescript").exists():
            run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
                 "grimp==3.19", *TS_WHEELS])  # fmt: skip
        return target
    if not (tools / "node_modules/.bin/depcruise").exists():
        tools.mkdir(parents=True, exist_ok=True)
        if not (tools / "package.json").exists():
            (tools / "package.json").write_text('{"name": "deps-bench-tools", "private": true}\n')
        run(["npm", "install", "--silent", *NPM_TOOLS], cwd=tools)
    return tools / "node_modules/.bin/depcruise"


# ------------------------------------------------------------------------------------- python

GRIMP_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1]); sys.path.append(sys.argv[3])
import grimp
g = grimp.build_graph(sys.argv[2], cache_dir=None)
print(json.dumps(sorted([m, i] for m in g.modules for i in g.find_modules_directly_imported_by(m))))
"""


def bench_python(report: dict) -> dict:
    tools = tool_path("pytools")
    totals = {"ours": set(), "truth": set()}
    for spec, (pkg, sub) in track(
        PY_SDISTS.items(), description="python vs grimp", console=console
    ):
        root = fetch_sdist(spec, CACHE / "py")
        base = root / sub if sub else root
        edges = json.loads(
            subprocess.run(
                [sys.executable, "-I", "-c", GRIMP_SCRIPT, str(base), pkg, str(tools)],
                capture_output=True, text=True, check=True, cwd="/",
            ).stdout
        )  # fmt: skip
        prefix = f"{sub}/" if sub else ""

        def mod_file(mod: str, base: Path = base, prefix: str = prefix) -> str | None:
            rel = mod.replace(".", "/")
            for cand in (rel + ".py", rel + "/__init__.py"):
                if (base / cand).exists():
                    return prefix + cand
            return None

        truth = set()
        for a, b in edges:
            fa, fb = mod_file(a), mod_file(b)
            if fa and fb and fa != fb:
                truth.add((spec, fa, fb))
        files, langs = load_repo(root)
        res = parse_dependencies(files, langs)
        pkg_dir = prefix + pkg + "/"
        ours = {
            (spec, a, b)
            for a, b in res.edges
            if a.startswith(pkg_dir) and b.startswith(pkg_dir) and a.endswith(".py")
        }
        ours = {e for e in ours if e[2].endswith(".py")}
        totals["ours"] |= ours
        totals["truth"] |= truth
        report.setdefault("python", {})[spec] = {
            **prf(ours, truth),
            "missed": sorted(truth - ours)[:30],
            "extra": sorted(ours - truth)[:30],
        }
    return prf(totals["ours"], totals["truth"])


# ------------------------------------------------------------------------------------ c / c++

C_SOURCES = (".c", ".cc", ".cpp", ".cxx")


def _gcc_deps(root: Path, src: str, incs: list[str], ordered: bool = False) -> list[str] | None:
    compiler = "gcc" if src.endswith(".c") else "g++"
    cmd = [compiler, "-MM", "-MG", "-w", f"-I{sysconfig_include()}"]
    cmd += [f"-I{root / d}" for d in incs]
    p = subprocess.run(cmd + [str(root / src)], capture_output=True, text=True, cwd=root)
    if p.returncode != 0:
        return None
    body = p.stdout.replace("\\\n", " ").split(":", 1)[1]
    out: list[str] = []
    for i, tok in enumerate(body.split()):
        if i == 0:  # the compiled file itself
            continue
        path = Path(tok) if os.path.isabs(tok) else (root / tok)
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = None
        if rel is None or not (root / rel).is_file():
            if ordered:  # the first dependency is outside the repository
                return []
            continue
        if rel != src and rel not in out:
            out.append(rel)
        if ordered:
            return out
    return out


def sysconfig_include() -> str:
    import sysconfig

    return sysconfig.get_paths()["include"]


_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(?:include|import)[ \t]*([<\"][^>\"\n]+[>\"])", re.M)


def _gcc_resolve(root: Path, d: str, directive: str, cpp: bool, incs: list[str]) -> str | None:
    """What gcc makes of one ``#include`` written in directory ``d`` (None: outside the repo)."""
    probe = root / d / (".rl_probe.cc" if cpp else ".rl_probe.c")
    probe.write_text(f"#include {directive}\n")
    try:
        deps = _gcc_deps(root, probe.relative_to(root).as_posix(), incs, ordered=True)
    finally:
        probe.unlink()
    return deps[0] if deps else None


def bench_c_direct(report: dict) -> dict:
    """Direct edges: every ``#include`` line of every C/C++ file, resolved by gcc itself (a probe
    file holding that one line, in the same directory, with the project's -I flags)."""
    totals = {"ours": set(), "truth": set()}
    for spec, incs in track(C_SDISTS.items(), description="C/C++ direct", console=console):
        root = fetch_sdist(spec, CACHE / "c")
        files, langs = load_repo(root)
        res = parse_dependencies(files, langs)
        cfiles = {f for f, lang in langs.items() if lang in ("c", "cpp")}
        ours = {(spec, a, b) for a, b in res.edges if a in cfiles and b in cfiles}
        cache: dict[tuple[str, str, bool], str | None] = {}
        truth = set()
        for f in sorted(cfiles):
            d = f.rsplit("/", 1)[0] if "/" in f else ""
            cpp = langs[f] == "cpp"
            for directive in _DIRECTIVE.findall(files[f]):
                key = (d, directive, cpp)
                if key not in cache:
                    cache[key] = _gcc_resolve(root, d, directive, cpp, incs)
                t = cache[key]
                if t is not None and t != f and t in cfiles:
                    truth.add((spec, f, t))
        totals["ours"] |= ours
        totals["truth"] |= truth
        report.setdefault("c_direct", {})[spec] = {
            **prf(ours, truth),
            "missed": sorted(truth - ours)[:30],
            "extra": sorted(ours - truth)[:30],
        }
    return prf(totals["ours"], totals["truth"])


def bench_c(report: dict) -> dict:
    totals = {"ours": set(), "truth": set()}
    skipped = 0
    for spec, incs in track(C_SDISTS.items(), description="C/C++ vs gcc -MM", console=console):
        root = fetch_sdist(spec, CACHE / "c")
        files, langs = load_repo(root)
        res = parse_dependencies(files, langs)
        adj: dict[str, set[str]] = defaultdict(set)
        for a, b in res.edges:
            if langs.get(a) in ("c", "cpp") and langs.get(b) in ("c", "cpp"):
                adj[a].add(b)
        truth, ours = set(), set()
        for src in sorted(f for f in files if f.endswith(C_SOURCES)):
            deps = _gcc_deps(root, src, incs)
            if deps is None:
                skipped += 1
                continue
            truth |= {(spec, src, d) for d in deps}
            seen: set[str] = set()
            stack = [src]
            while stack:
                for nxt in adj.get(stack.pop(), ()):
                    if nxt not in seen and nxt != src:
                        seen.add(nxt)
                        stack.append(nxt)
            ours |= {(spec, src, d) for d in seen}
        totals["ours"] |= ours
        totals["truth"] |= truth
        report.setdefault("c", {})[spec] = {
            **prf(ours, truth),
            "missed": sorted(truth - ours)[:30],
            "extra": sorted(ours - truth)[:30],
        }
    out = prf(totals["ours"], totals["truth"])
    out["skipped_sources"] = skipped
    return out


# --------------------------------------------------------------------------------------- java


def _java_prepare() -> tuple[Path, Path]:
    jdir = CACHE / "java"
    jdir.mkdir(parents=True, exist_ok=True)
    x = jdir / "x"
    if not (x / "usr/lib/jvm/openjdk-17/lib/src.zip").exists():
        for deb in (JDK_DEB, JDK_SRC_DEB):
            run(["apt-get", "download", deb], cwd=jdir)
        for deb in sorted(jdir.glob("*.deb")):
            run(["dpkg", "-x", str(deb), str(x)])
    srcs, cls = jdir / "srcs", jdir / "cls"
    jmods = x / "usr/lib/jvm/java-17-openjdk-amd64/jmods"
    for m in JAVA_MODULES:
        if not (cls / m / "classes").exists():
            (cls / m).mkdir(parents=True, exist_ok=True)
            run(["jmod", "extract", "--dir", str(cls / m), str(jmods / f"{m}.jmod")])
        if not (srcs / m).exists():
            with zipfile.ZipFile(x / "usr/lib/jvm/openjdk-17/lib/src.zip") as z:
                for n in z.namelist():
                    if n.startswith(m + "/"):
                        z.extract(n, srcs)
    return srcs, cls


_TOP = re.compile(
    r"^(?:(?:public|final|abstract|sealed|non-sealed|strictfp)\s+)*"
    r"(?:class|interface|enum|record|@interface)\s+(\w+)",
    re.M,
)
_JDEPS = re.compile(r"^\s+(\S+)\s+->\s+(\S+)\s+(\S+)", re.M)


def bench_java(report: dict) -> dict:
    srcs, cls = _java_prepare()
    totals = {"ours": set(), "truth": set()}
    unmapped = 0
    for m in track(JAVA_MODULES, description="Java vs jdeps", console=console):
        root = srcs / m
        files, langs = load_repo(root)
        # class name -> source file: the file named after the class, else a file of the same
        # package declaring it at column 0 (non-public top-level classes).
        by_class: dict[str, str] = {}
        for rel in files:
            if rel.endswith(".java"):
                pkg = rel.rsplit("/", 1)[0].replace("/", ".") if "/" in rel else ""
                by_class[f"{pkg}.{Path(rel).stem}"] = rel
        for rel, text in files.items():
            if rel.endswith(".java"):
                pkg = rel.rsplit("/", 1)[0].replace("/", ".") if "/" in rel else ""
                for name in _TOP.findall(text):
                    by_class.setdefault(f"{pkg}.{name}", rel)
        out = run(["jdeps", "-verbose:class", "-filter:none", str(cls / m / "classes")])
        truth = set()
        for a, b, _mod in _JDEPS.findall(out):
            fa = by_class.get(a.split("$", 1)[0])
            fb = by_class.get(b.split("$", 1)[0])
            if fa is None and not a.endswith("module-info"):
                unmapped += 1
            if fa and fb and fa != fb:
                truth.add((m, fa, fb))
        res = parse_dependencies(files, langs)
        ours = {(m, a, b) for a, b in res.edges if a.endswith(".java") and b.endswith(".java")}
        ours = {e for e in ours if not e[1].endswith(("module-info.java", "package-info.java"))}
        totals["ours"] |= ours
        totals["truth"] |= truth
        # A jdeps edge whose target's simple name never occurs in the importer's code (comments
        # and strings masked) is invisible in the source: a type that only appears in the
        # descriptor of a called or inherited method, an inlined lambda/bridge, etc.
        visible = set()
        words: dict[str, set[str]] = {}
        for e in truth:
            if e[1] not in words:
                words[e[1]] = set(re.findall(r"[\w$]+", mask(files[e[1]], "java")))
            if Path(e[2]).stem in words[e[1]]:
                visible.add(e)
        totals.setdefault("visible", set()).update(visible)
        report.setdefault("java_full", {})[m] = {
            "missed_visible": sorted(visible - ours),
            "missed_invisible": sorted((truth - visible) - ours),
            "extra": sorted(ours - truth),
        }
        report.setdefault("java", {})[m] = {
            **prf(ours, truth),
            "source_visible_recall": len(visible & ours) / max(1, len(visible)),
            "missed": sorted(truth - ours)[:40],
            "extra": sorted(ours - truth)[:40],
        }
    out = prf(totals["ours"], totals["truth"])
    out["unmapped_jdeps_classes"] = unmapped
    vis = totals["visible"]
    out["visible"] = prf({e for e in totals["ours"]}, vis)
    out["visible"]["precision"] = out["precision"]
    return out


# ----------------------------------------------------------------------------------------- js


def fetch_npm(spec: str) -> Path:
    out = CACHE / "npm" / spec.replace("/", "__")
    if (out / "package").exists():
        return out / "package"
    out.mkdir(parents=True, exist_ok=True)
    name = run(["npm", "pack", "--silent", spec], cwd=out).strip().splitlines()[-1]
    with tarfile.open(out / name) as t:
        t.extractall(out, filter="data")
    return out / "package"


def bench_js(report: dict) -> dict:
    depcruise = tool_path("npm")
    totals: dict[str, dict[str, set]] = defaultdict(lambda: {"ours": set(), "truth": set()})
    for spec, sub in track(NPM.items(), description="JS/TS vs dependency-cruiser", console=console):
        root = fetch_npm(spec)
        cmd = [str(depcruise), "--no-config", "--output-type", "json", "--ts-pre-compilation-deps",
               "--do-not-follow", "node_modules", "--exclude", "node_modules", sub]  # fmt: skip
        data = json.loads(run(cmd, cwd=root))
        files, langs = load_repo(root)
        seen = {m["source"] for m in data["modules"] if m["source"] in files}
        truth = set()
        for m in data["modules"]:
            for d in m.get("dependencies", []):
                r = d.get("resolved", "")
                if m["source"] in seen and r in files and r != m["source"]:
                    truth.add((m["source"], r))
        res = parse_dependencies(files, langs)
        ours = {(a, b) for a, b in res.edges if a in seen and b in files and langs.get(b)}
        truth = {(a, b) for a, b in truth if langs.get(b)}
        lang = (
            "typescript"
            if any(langs.get(s) == "typescript" and not s.endswith(".d.ts") for s in seen)
            else "javascript"
        )
        key = {(spec, a, b) for a, b in ours}
        tkey = {(spec, a, b) for a, b in truth}
        totals[lang]["ours"] |= key
        totals[lang]["truth"] |= tkey
        report.setdefault("js", {})[spec] = {
            **prf(key, tkey),
            "modules": len(seen),
            "missed": sorted(tkey - key)[:30],
            "extra": sorted(key - tkey)[:30],
        }
    out = {k: prf(v["ours"], v["truth"]) for k, v in totals.items()}
    both = {"ours": set(), "truth": set()}
    for v in totals.values():
        both["ours"] |= v["ours"]
        both["truth"] |= v["truth"]
    out["js+ts"] = prf(both["ours"], both["truth"])
    return out


# -------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="python,c,java,js")
    ap.add_argument("--speed", action="store_true", help="also compare regex and tree-sitter")
    args = ap.parse_args(argv)
    parts = set(args.only.split(","))
    report: dict = {}
    rows = []
    t0 = time.perf_counter()
    if "python" in parts:
        r = bench_python(report)
        rows.append(fmt_row("Python", r, "grimp 3.19", f"{len(PY_SDISTS)} PyPI sdists"))
    if "c" in parts:
        if shutil.which("gcc") is None:
            console.print("gcc missing: C/C++ skipped")
        else:
            r = bench_c_direct(report)
            rows.append(
                fmt_row("C/C++ (direct)", r, "gcc, per directive", f"{len(C_SDISTS)} PyPI sdists")
            )
            r = bench_c(report)
            rows.append(
                fmt_row("C/C++ (closure)", r, "gcc -MM -MG", f"{len(C_SDISTS)} PyPI sdists")
            )
    if "java" in parts:
        r = bench_java(report)
        rows.append(fmt_row("Java", r, "jdeps 17", f"{len(JAVA_MODULES)} JDK 17 modules"))
        rows.append(fmt_row("Java, source-visible", r["visible"], "jdeps 17", "same, see note"))
    if "js" in parts:
        r = bench_js(report)
        for lang in ("javascript", "typescript"):
            if lang in r:
                rows.append(fmt_row(lang, r[lang], "dependency-cruiser 16.10.4", "npm packages"))
    if args.speed:
        from deps_speed import speed_table  # type: ignore[import-not-found]

        rows.append("")
        rows.extend(speed_table(tool_path("pytools"), report))
    (CACHE / "report.json").write_text(json.dumps(report, indent=1, default=list))
    print("| language | reference | corpus | reference edges | our edges | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    console.print(f"done in {time.perf_counter() - t0:.0f}s; misses in {CACHE / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
