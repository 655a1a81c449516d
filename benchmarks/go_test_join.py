"""Go packages in the corpus builder's samples (issue 13, item 4), checked against Go's own tools.

On the Go projects of the pinned `benchmark` manifest (Debian golang-*-dev source trees):

1. **Test files with their package.** `go list` (GOPATH mode, offline) says which package each
   `_test.go` file tests (`TestGoFiles`: `package m`; `XTestGoFiles`: `package m_test`) and
   which files that package has (`GoFiles` + `CgoFiles`, this machine's GOOS). A build of the
   projects (`repoloom corpus build`, default config, hub off) is read back; a test-to-package
   relation *crosses samples* when the test file's sample does not hold every file of its
   package that is in the samples, and *joins* when it holds them all and the test comes after
   them. Run once with this tree and once with `--baseline-src` (the code before the change) to
   get both figures.
2. **Same-package name edges.** For each package of `go list` (`GoFiles` + `CgoFiles` +
   `TestGoFiles`; and `XTestGoFiles` alone), `go/parser` + `ast.NewPackage` resolve every
   identifier across the package's files: the reference edge a -> b is "a uses a package-scope
   name declared in b". Our edges are `repoloom.codebase.deps.parse_dependencies`' edges between
   two files of the same package, without the test -> package edges (added for every test file
   by design). Precision and recall per project.

3. **Speed** (`--speed`, with `--baseline-src`): CPU seconds of `parse_dependencies` over all
   Go projects with each code base, alternating, three rounds each.

    .venv/bin/python benchmarks/go_test_join.py --data ~/.cache/repoloom/benchmark-corpus \\
        --skip-fetch --baseline-src /tmp/base/src [--speed]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("~/.cache/repoloom/go-test-join").expanduser()

# The reference resolver: go/parser's object resolution across the files of one package.
GO_REFERENCE = r"""
package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
)

type group struct {
	Dir   string   `json:"dir"`
	Files []string `json:"files"`
}

func main() {
	var groups []group
	if err := json.NewDecoder(os.Stdin).Decode(&groups); err != nil {
		panic(err)
	}
	edges := [][2]string{}
	for _, g := range groups {
		fset := token.NewFileSet()
		files := map[string]*ast.File{}
		for _, name := range g.Files {
			path := filepath.Join(g.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err == nil {
				files[path] = f
			}
		}
		if len(files) == 0 {
			continue
		}
		pkg, _ := ast.NewPackage(fset, files, nil, nil) // errors: imports, universe names
		seen := map[[2]string]bool{}
		for path, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				id, ok := n.(*ast.Ident)
				if !ok || id.Obj == nil || pkg.Scope.Lookup(id.Name) != id.Obj {
					return true
				}
				decl := fset.PositionFor(id.Obj.Pos(), false).Filename // not //line-adjusted
				edge := [2]string{path, decl}
				if decl != path && !seen[edge] {
					seen[edge] = true
					edges = append(edges, edge)
				}
				return true
			})
		}
	}
	json.NewEncoder(os.Stdout).Encode(edges)
}
"""


def go_projects(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir() if p.is_dir() and p.name.startswith("golang-"))


def go_list(project: Path) -> list[dict]:
    """`go list -e -json ./...` in GOPATH mode (no module download, this machine's GOOS)."""
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": tempfile.mkdtemp(prefix="gopath-")}
    env["GOFLAGS"] = ""
    done = subprocess.run(
        ["go", "list", "-e", "-json", "./..."],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    decoder = json.JSONDecoder()
    text, pos, packages = done.stdout, 0, []
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        packages.append(obj)
    return packages


def _rel(project: Path, directory: str, name: str) -> str:
    return (Path(directory) / name).relative_to(project).as_posix()


def build(data: Path, projects: list[Path], out: Path, src: Path | None) -> Path:
    """`repoloom corpus build` of the Go projects with the package at `src` (None: this tree)."""
    if (out / "report.json").exists():
        return out
    config = out.parent / "config.yaml"
    config.write_text("decontam:\n  hub: false\n")
    env = {**os.environ, "PYTHONPATH": str(src or ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "repoloom", "corpus", "build", *map(str, projects)]
    command += ["--out", str(out), "--config", str(config), "--no-progress"]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return out


def test_relations(project: Path, packages: list[dict], samples: list[dict]) -> dict[str, int]:
    """Per test file of `project` in the samples: does its sample hold its whole package?"""
    where: dict[str, tuple[int, int]] = {}  # path -> (sample, position)
    for number, sample in enumerate(samples):
        for position, path in enumerate(sample["paths"]):
            where[path] = (number, position)
    figures = {"relations": 0, "crossed": 0, "none_shared": 0, "joined_after": 0}
    for package in packages:
        directory = package["Dir"]
        members = [
            _rel(project, directory, f)
            for f in package.get("GoFiles", []) + package.get("CgoFiles", [])
        ]
        members = [m for m in members if m in where]
        tests = package.get("TestGoFiles", []) + package.get("XTestGoFiles", [])
        for test in (_rel(project, directory, t) for t in tests):
            if test not in where or not members:
                continue
            figures["relations"] += 1
            sample, position = where[test]
            same = [m for m in members if where[m][0] == sample]
            if len(same) < len(members):
                figures["crossed"] += 1
            if not same:
                figures["none_shared"] += 1
            if len(same) == len(members) and all(where[m][1] < position for m in same):
                figures["joined_after"] += 1
    return figures


def name_edges(project: Path, packages: list[dict], tool: Path) -> dict[str, float]:
    """Our same-package edges against go/parser's resolution (see the module docstring)."""
    from repoloom.codebase.deps import parse_dependencies
    from repoloom.codebase.repo import load_repository

    groups, group_of = [], {}
    for package in packages:
        directory = package["Dir"]
        internal = package.get("GoFiles", []) + package.get("CgoFiles", [])
        internal += package.get("TestGoFiles", [])
        for number, files in enumerate((internal, package.get("XTestGoFiles", []))):
            if len(files) > 1:
                groups.append({"dir": directory, "files": files})
                for f in files:
                    group_of[_rel(project, directory, f)] = (directory, number)
    done = subprocess.run(
        [str(tool)], input=json.dumps(groups), capture_output=True, text=True, check=True
    )
    reference = {
        (Path(a).relative_to(project).as_posix(), Path(b).relative_to(project).as_posix())
        for a, b in json.loads(done.stdout)
    }
    repo = load_repository(project)
    ours = set()
    for a, b in parse_dependencies(repo.texts, repo.languages).edges:
        if a in group_of and group_of.get(a) == group_of.get(b):
            if a.endswith("_test.go") and not b.endswith("_test.go"):
                continue  # test -> package: every test file has these by design
            ours.add((a, b))
    reference = {
        (a, b) for a, b in reference if not (a.endswith("_test.go") and not b.endswith("_test.go"))
    }
    both = len(ours & reference)
    return {
        "reference": len(reference),
        "ours": len(ours),
        "both": both,
        "extra": sorted(ours - reference)[:5],
        "missed": sorted(reference - ours)[:5],
    }


SPEED = """
import sys, time
from pathlib import Path
from repoloom.codebase.deps import parse_dependencies
from repoloom.codebase.repo import load_repository
repos = [load_repository(p) for p in sys.argv[1:]]
started = time.process_time()
edges = sum(len(parse_dependencies(r.texts, r.languages).edges) for r in repos)
print(time.process_time() - started, edges)
"""


def speed(projects: list[Path], baseline: Path, rounds: int = 3) -> dict[str, list[float]]:
    """CPU seconds of parse_dependencies on the projects: this tree vs the baseline, alternating."""
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    edges: dict[str, int] = {}
    for _ in range(rounds):
        for label, src in (("before", baseline), ("after", ROOT / "src")):
            env = {**os.environ, "PYTHONPATH": str(src)}
            done = subprocess.run(
                [sys.executable, "-c", SPEED, *map(str, projects)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            cpu, n = done.stdout.split()
            seconds[label].append(round(float(cpu), 2))
            edges[label] = int(n)
    return {"cpu_seconds": seconds, "edges": edges}


def compile_reference(work: Path) -> Path:
    source = work / "goref" / "main.go"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(GO_REFERENCE)
    (source.parent / "go.mod").write_text("module goref\n\ngo 1.19\n")
    binary = work / "goref" / "goref"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=source.parent, env=env, check=True)
    return binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "go-test-join")
    parser.add_argument("--skip-fetch", action="store_true")
    parser.add_argument("--baseline-src", type=Path, help="src/ of the code before the change")
    parser.add_argument("--speed", action="store_true", help="time parse_dependencies only")
    args = parser.parse_args()
    if args.speed:
        result = speed(go_projects(args.data.expanduser()), args.baseline_src)
        print(json.dumps(result, indent=1))
        return 0
    if not args.skip_fetch:
        from repoloom.corpus.fetch import Manifest, fetch_manifest, load_manifest

        full = load_manifest("benchmark")
        go = [a for a in full.artefacts if a.language == "go"]
        fetch_manifest(Manifest("go-test-join", "Go part of benchmark", go), args.data)
    projects = go_projects(args.data.expanduser())
    args.work.mkdir(parents=True, exist_ok=True)
    tool = compile_reference(args.work)
    builds = {"after": build(args.data, projects, args.work / "after", None)}
    if args.baseline_src:
        builds["before"] = build(args.data, projects, args.work / "before", args.baseline_src)
    samples = {
        label: pq.read_table(out / "samples", columns=["repo", "paths"]).to_pylist()
        for label, out in builds.items()
    }
    rows = []
    totals: dict[str, dict[str, int]] = {}
    for project in projects:
        packages = go_list(project)
        row: dict = {"project": project.name}
        for label, rows_of in samples.items():
            mine = [s for s in rows_of if s["repo"] == project.name]
            figures = test_relations(project, packages, mine)
            row[label] = figures
            for key, n in figures.items():
                totals.setdefault(label, {}).setdefault(key, 0)
                totals[label][key] += n
        row["names"] = name_edges(project, packages, tool)
        rows.append(row)
        print(json.dumps(row), flush=True)
    reference = sum(r["names"]["reference"] for r in rows)
    ours = sum(r["names"]["ours"] for r in rows)
    both = sum(r["names"]["both"] for r in rows)
    result = {
        "projects": [p.name for p in projects],
        "rows": rows,
        "totals": totals,
        "names": {
            "reference": reference,
            "ours": ours,
            "both": both,
            "precision": both / ours if ours else None,
            "recall": both / reference if reference else None,
        },
    }
    (args.work / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"totals": totals, "names": result["names"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
