"""The house's import graph: layers only import downward, nothing imports in a circle, and
repoloom's own imports stand at module top.

Read from the source with ``ast`` (nothing is imported), so a violation names file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from repoloom.codebase.order import _Graph, strongly_connected_components

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# Lower number = lower floor. A module may import its own floor or any floor below.
LAYERS: dict[str, int] = {
    "io": 0, "config": 0, "errors": 0, "progress": 0, "prompts": 0, "codebase": 0, "benchdata": 0,
    "corpus": 1, "tokenize": 1,
    "train": 2, "inference": 2,
    "evaluate": 3,
    "serve": 4,
    "demo": 5, "cli": 5, "__main__": 5, "testing": 5, "heldout": 5, "__init__": 0,
}  # fmt: skip


# Third-party modules that cost a noticeable share of a second (or a GPU runtime) to import: a
# module that loads one of these at its top may itself be imported inside a function, so that
# `repoloom --help` and light commands stay fast.
HEAVY_THIRD_PARTY = frozenset({
    "torch", "transformers", "ray", "datasets", "huggingface_hub", "peft", "accelerate",
    "fastapi", "uvicorn", "starlette", "pyarrow", "pandas", "matplotlib", "llama_cpp", "gguf",
    "tokenizers", "safetensors", "scipy", "sympy", "vllm", "numpy",
})  # fmt: skip


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path, module: str) -> list[tuple[list[str], int, bool]]:
    """(names the statement may import, line, at module top) for every import of ``path``; a
    ``from X import a`` may import module ``X.a`` or name ``a`` of ``X``, so both are listed."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(n) for n in tree.body}
    for n in tree.body:  # `if TYPE_CHECKING:` / try-except imports at top still count as top
        if isinstance(n, (ast.If, ast.Try)):
            top |= {id(c) for c in ast.walk(n)}
    found = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        else:
            continue
        found.append((names, node.lineno, id(node) in top))
    return found


def _graph(base: Path, prefix: str = "") -> dict[str, dict[str, int]]:
    """module -> {imported module of this tree: line}."""
    files = {_module_name(p, base): p for p in base.rglob("*.py") if "__pycache__" not in p.parts}
    files = {prefix + k if prefix else k: v for k, v in files.items()}
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        for names, line, _ in _imports(path, module):
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.setdefault(name, line)
        graph[module] = edges
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS[key]


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Import circles: strongly connected components of more than one module (the corpus's own
    Tarjan, the one that orders files by their imports)."""
    edges = [(m, d) for m, deps in graph.items() for d in deps if d in graph]
    components = strongly_connected_components(_Graph(list(graph), edges))
    return [sorted(c) for c in components if len(c) > 1]


def _is_package_of(parent: str, child: str) -> bool:
    return child.startswith(parent + ".")


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in (SRC / "repoloom").iterdir()}
    names = {n for n in names if not n.startswith((".", "_")) or n in ("__init__", "__main__")}
    names.discard("py")
    missing = sorted(n for n in names if n not in LAYERS and n != "__pycache__")
    assert not missing, f"give these a floor in LAYERS: {missing}"


def test_no_import_runs_up_a_layer():
    graph = _graph(SRC)
    bad = [
        f"{mod} (floor {_layer(mod)}) imports {dep} (floor {_layer(dep)}) at line {line}"
        for mod, deps in graph.items()
        for dep, line in deps.items()
        if _layer(dep) > _layer(mod) and not _is_package_of(mod, dep)
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_in_the_package():
    # A package's __init__ re-exporting its children is not a circle of the design.
    graph = {
        m: {d: ln for d, ln in deps.items() if not _is_package_of(m, d)}
        for m, deps in _graph(SRC).items()
    }
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycle_among_benchmarks():
    graph = _graph(ROOT / "benchmarks", prefix="")
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def _heavy_modules() -> set[str]:
    """Modules of the package that load a heavy third-party module when imported (directly or
    through the package's own top-level imports)."""
    files = {_module_name(p, SRC): p for p in (SRC / "repoloom").rglob("*.py")}
    top_internal: dict[str, set[str]] = {}
    heavy = set()
    for module, path in files.items():
        deps = set()
        for names, _, at_top in _imports(path, module):
            if not at_top:
                continue
            if names[0].split(".")[0] in HEAVY_THIRD_PARTY:
                heavy.add(module)
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    deps.add(name)
        top_internal[module] = deps
    changed = True
    while changed:
        changed = False
        for module, deps in top_internal.items():
            if module not in heavy and deps & heavy:
                heavy.add(module)
                changed = True
    return heavy


def test_internal_imports_stand_at_module_top():
    heavy = _heavy_modules()
    files = {_module_name(p, SRC) for p in (SRC / "repoloom").rglob("*.py")}
    bad = []
    for path in sorted((SRC / "repoloom").rglob("*.py")):
        module = _module_name(path, SRC)
        for names, line, at_top in _imports(path, module):
            if at_top or names[0].split(".")[0] != "repoloom":
                continue
            targets = set()
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                targets.add(name)
            if targets & heavy:
                continue
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {names[0]} inside a function")
    assert not bad, f"{len(bad)} imports inside functions:\n" + "\n".join(bad)
