"""Ordering: Algorithm 1 (`paper`) step by step, and SCC condensation (`scc`)."""

import random

import pytest

from repoloom.codebase.order import (
    _Graph,
    edges_in_order,
    order_files,
    order_repository,
    strongly_connected_components,
)


def algorithm1_literal(files, deps):
    """The report's Algorithm 1 transcribed line by line (O(n^2)); tie-break: smallest path.

    `deps[f]` lists the files f depends on. Components come out in the order of their smallest path.
    """
    graph = {f: [] for f in files}
    in_degree = {f: 0 for f in files}
    for f in files:
        for d in deps.get(f, []):
            if d == f or d not in graph:
                continue
            graph[d].append(f)  # edge d -> f: f depends on d
            in_degree[f] += 1
    # getDisconnectedSubgraphs: undirected reachability
    seen, subgraphs = set(), []
    for start in sorted(files):
        if start in seen:
            continue
        stack, comp = [start], set()
        while stack:
            n = stack.pop()
            if n in comp:
                continue
            comp.add(n)
            stack.extend(graph[n])
            stack.extend(f for f in files if n in graph[f])
        seen |= comp
        subgraphs.append(comp)
    all_results = []
    for sub in subgraphs:
        results = []
        while len(results) != len(sub):
            candidates = [f for f in sub if f not in results]
            file = min(candidates, key=lambda f: (in_degree[f], f))
            for node in graph[file]:
                in_degree[node] -= 1
            results.append(file)
        all_results.append(results)
    return all_results


def random_graph(rng, n, p):
    files = [f"f{i:02d}.py" for i in range(n)]
    deps = {f: [g for g in files if rng.random() < p] for f in files}  # self-loops included
    return files, deps


def edges_of(deps):
    return [(f, d) for f, ds in deps.items() for d in ds]


@pytest.mark.parametrize("seed", range(60))
def test_paper_mode_is_algorithm1_step_by_step(seed):
    rng = random.Random(seed)
    files, deps = random_graph(rng, rng.randint(1, 14), rng.choice([0.05, 0.12, 0.3]))
    assert order_files(files, edges_of(deps), mode="paper") == algorithm1_literal(files, deps)


def test_algorithm1_on_a_chain_puts_dependencies_first():
    # c imports b imports a
    assert order_files(["a", "b", "c"], [("c", "b"), ("b", "a")], "paper") == [["a", "b", "c"]]


def test_algorithm1_breaks_a_cycle_by_minimum_in_degree():
    # a <-> b, and c depends on a: b and a both have in-degree 1 from the cycle; a also has 0 extra
    result = order_repository(["a", "b", "c"], [("a", "b"), ("b", "a"), ("c", "a")], "paper")
    assert result.components == [["a", "b", "c"]]
    assert result.cycles_broken == 1
    assert result.cyclic_groups == 1


def test_ties_go_to_the_smallest_path_and_components_to_their_smallest_member():
    assert order_files(["z", "y", "b", "a"], [], "paper") == [["a"], ["b"], ["y"], ["z"]]
    assert order_files(["m", "n", "a"], [("m", "n")], "scc") == [["a"], ["n", "m"]]


def test_self_imports_are_ignored():
    result = order_repository(["a", "b"], [("a", "a"), ("b", "a")], "paper")
    assert result.components == [["a", "b"]]
    assert result.cycles_broken == 0


def test_edges_to_unknown_files_are_ignored():
    assert order_files(["a"], [("a", "missing")], "scc") == [["a"]]


def test_disconnected_graph_gives_one_component_each():
    comps = order_files(["a", "b", "c", "d"], [("b", "a"), ("d", "c")], "paper")
    assert comps == [["a", "b"], ["c", "d"]]


def test_algorithm1_can_misplace_an_acyclic_dependency_and_scc_does_not():
    # b <-> c is a cycle; x depends on b, a depends on x. Every file has in-degree 1, so
    # Algorithm 1 takes "a" first (tie-break), before its acyclic dependency x.
    edges = [("b", "c"), ("c", "b"), ("x", "b"), ("a", "x")]
    files = ["a", "b", "c", "x"]
    paper = order_files(files, edges, "paper")[0]
    scc = order_files(files, edges, "scc")[0]
    assert paper[0] == "a"
    assert edges_in_order(paper, edges) == (1, 2)  # (x, b) in order, (a, x) not
    assert edges_in_order(scc, edges) == (2, 2)
    assert scc == ["b", "c", "x", "a"]


@pytest.mark.parametrize("seed", range(40))
def test_scc_mode_keeps_every_acyclic_edge_in_order(seed):
    rng = random.Random(1000 + seed)
    files, deps = random_graph(rng, rng.randint(2, 30), rng.choice([0.03, 0.08, 0.2]))
    edges = edges_of(deps)
    comps = order_files(files, edges, "scc")
    flat = [p for c in comps for p in c]
    assert sorted(flat) == sorted(files)
    good, total = edges_in_order(flat, edges)
    assert good == total
    # each component is weakly connected and components partition the files
    assert len(flat) == len(set(flat))


def test_scc_inside_cycles_uses_algorithm1():
    # a -> b -> c -> a cycle plus d depending on c
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "c")]
    result = order_repository(list("abcd"), edges, "scc")
    flat = result.components[0]
    assert flat[-1] == "d"
    assert set(flat[:3]) == {"a", "b", "c"}
    assert result.cyclic_groups == 1 and result.files_in_cycles == 3


def test_tarjan_handles_deep_chains_without_recursion():
    n = 5000
    files = [f"f{i:05d}" for i in range(n)]
    edges = [(files[i + 1], files[i]) for i in range(n - 1)]
    graph = _Graph(files, edges)
    assert len(strongly_connected_components(graph)) == n
    assert order_files(files, edges, "scc") == [files]


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown order mode"):
        order_files(["a"], [], "random")
