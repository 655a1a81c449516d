"""Smaller sanity checks of the Go, Rust and PHP dependency parsers on Debian source packages.

- Rust ``mod``: the files our module tree reaches from ``src/lib.rs`` against the files rustc
  itself loads (``rustc --test --emit=dep-info`` with every Cargo feature and the cfgs of the
  crate's build.rs enabled; rustc loads only the modules of one target configuration, we keep
  every ``#[cfg]`` branch), per crate;
- Go: of the imports that start with the package's own module path (go.mod), the share that
  resolves to a package directory of the repository (every such import must);
- PHP: of the ``use`` statements that name the package's own root namespace, the share that
  resolves to a file.

Packages are fetched with ``apt-get download`` (pinned versions) into
``~/.cache/repoloom/deps-bench/deb``. Run: ``.venv/bin/python benchmarks/deps_sanity.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from deps_common import CACHE, load_repo, run

from repoloom.codebase.deps import go, parse_dependencies, php, rust
from repoloom.codebase.deps._base import Repo

DEBS = [
    "librust-regex-syntax-dev=0.6.27-1",
    "librust-memchr-dev=2.5.0-1",
    "golang-github-spf13-cobra-dev=1.6.1-1",
    "golang-github-google-go-cmp-dev=0.5.9-1",
    "php-league-commonmark=2.3.9-1+deb12u1",
    "php-symfony-console=5.4.53+dfsg-0+deb12u1",
]
# crate: (name, edition, cfgs that its build.rs sets on x86-64 Linux)
RUST = {
    "regex-syntax-0.6.27": ("regex_syntax", "2018", []),
    "memchr-2.5.0": (
        "memchr",
        "2018",
        [
            "memchr_runtime_simd",
            "memchr_runtime_sse2",
            "memchr_runtime_sse42",
            "memchr_runtime_avx",
            "memchr_libc",
        ],
    ),  # fmt: skip
}
GO = ["github.com/spf13/cobra", "github.com/google/go-cmp"]
PHP = {
    "League/CommonMark": "League\\CommonMark",
    "Symfony/Component/Console": "Symfony\\Component\\Console",
}


def fetch() -> Path:
    d = CACHE / "deb"
    x = d / "x"
    if not (x / "usr/share/cargo/registry").exists():
        d.mkdir(parents=True, exist_ok=True)
        run(["apt-get", "download", *DEBS], cwd=d)
        for deb in sorted(d.glob("*.deb")):
            run(["dpkg", "-x", str(deb), str(x)])
    return x


def rust_check(x: Path) -> list[str]:
    rows = []
    for crate, (name, edition, extra) in RUST.items():
        root = x / "usr/share/cargo/registry" / crate
        toml = (root / "Cargo.toml").read_text()
        feats = (
            re.findall(r"^([\w-]+)\s*=", toml.split("[features]", 1)[1], re.M)
            if "[features]" in toml
            else []
        )
        cfgs = [a for f in feats for a in ("--cfg", f'feature="{f}"')]
        cfgs += [a for c in extra for a in ("--cfg", c)]
        with tempfile.TemporaryDirectory() as tmp:
            dep = Path(tmp) / "out.d"
            subprocess.run(
                ["rustc", "--edition", edition, "--test", "--crate-name", name,
                 f"--emit=dep-info={dep}", *cfgs, "src/lib.rs"],
                cwd=root, capture_output=True, text=True,
            )  # fmt: skip
            text = dep.read_text() if dep.exists() else ""
        truth = set(re.findall(r"^(src/\S+\.rs):", text, re.M))
        files, langs = load_repo(root)
        langs = {k: ("rust" if k.endswith(".rs") else None) for k in files}
        ctx = rust.prepare(Repo(files=files, languages=langs))
        ours = {f for f, (r, _) in ctx["file_mod"].items() if r == "src/lib.rs"}
        tp = len(ours & truth)
        rows.append(
            f"| Rust `mod` tree | {crate} | rustc --emit=dep-info | {len(truth)} files | "
            f"{len(ours)} files | {100 * tp / max(1, len(ours)):.1f}% | "
            f"{100 * tp / max(1, len(truth)):.1f}% |"
        )
    return rows


def go_check(x: Path) -> list[str]:
    rows = []
    for mod in GO:
        root = x / "usr/share/gocode/src" / mod
        files, langs = load_repo(root)
        langs = {k: ("go" if k.endswith(".go") else None) for k in files}
        repo = Repo(files=files, languages=langs)
        ctx = go.prepare(repo)
        own = ok = 0
        for path in sorted(k for k, v in langs.items() if v):
            for spec in go._imports(repo.text(path), repo.masked(path, "go")):
                if spec == mod or spec.startswith(mod + "/"):
                    own += 1
                    ok += bool(go._resolve(repo, ctx, path, spec))
        res = parse_dependencies(files, langs)
        rows.append(
            f"| Go own-module imports | {mod} | go.mod | {own} imports | {ok} resolved "
            f"({len(res.edges)} edges) | - | {100 * ok / max(1, own):.1f}% |"
        )
    return rows


def php_check(x: Path) -> list[str]:
    rows = []
    for sub, ns in PHP.items():
        root = x / "usr/share/php" / sub
        files, langs = load_repo(root)
        langs = {k: ("php" if k.endswith(".php") else None) for k in files}
        repo = Repo(files=files, languages=langs)
        ctx = php.prepare(repo)
        own = ok = 0
        for path in sorted(k for k, v in langs.items() if v):
            for m in php._USE.finditer(repo.masked(path, "php")):
                if m.group(1):
                    continue
                for name, _alias in php._use_names(m.group(2)):
                    if name.startswith(ns + "\\"):
                        own += 1
                        ok += bool(php._class_files(repo, ctx, name)) or (
                            name.lower() in ctx["namespaces"]  # `use A\\B;` of a namespace
                        )
        res = parse_dependencies(files, langs)
        rows.append(
            f"| PHP own-namespace `use` | {ns} | declarations | {own} names | {ok} resolved "
            f"({len(res.edges)} edges) | - | {100 * ok / max(1, own):.1f}% |"
        )
    return rows


def main() -> int:
    x = fetch()
    print("| check | package | reference | reference | ours | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    for row in rust_check(x) + go_check(x) + php_check(x):
        print(row)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
