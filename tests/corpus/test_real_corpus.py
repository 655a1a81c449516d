"""The builder on real repositories (the pinned demo set from PyPI, npm and Debian).

Skipped when the registries cannot be reached. The fetched artefacts are cached under
~/.cache/repoloom/test-demo-corpus (or $REPOLOOM_TEST_CACHE) between runs.
"""

import pyarrow.parquet as pq
import pytest

from repoloom.codebase.deps import parse_dependencies
from repoloom.codebase.order import _Graph, strongly_connected_components
from repoloom.codebase.sources import expand_sources, iter_repository_files
from repoloom.corpus.build import build_corpus
from repoloom.corpus.config import CorpusConfig, ReadConfig

pytestmark = pytest.mark.network


@pytest.fixture(scope="session")
def demo_build(demo_repos, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "corpus"
    config = CorpusConfig()
    config.order.mode = "scc"
    result = build_corpus(
        expand_sources([], [str(demo_repos)]), out, config, workers=2, progress=False
    )
    return out, result.report


def test_real_corpus_spans_several_languages_with_dependency_ordered_samples(demo_build):
    out, report = demo_build
    assert report["repositories"] >= 6
    assert not report["repositories_failed"]
    assert len(report["languages_kept"]) >= 4
    samples = pq.read_table(out / "samples").to_pylist()
    removed = pq.read_table(out / "removed").to_pylist()
    assert sum(len(s["paths"]) for s in samples) + len(removed) == report["files_in"]
    repo_samples = [s for s in samples if s["kind"] == "repo"]
    assert {lang for s in repo_samples for lang in s["languages"]} >= {"python", "go", "php"}


def test_every_acyclic_edge_is_in_order_in_scc_mode(demo_repos, demo_build):
    out, _ = demo_build
    samples = pq.read_table(out / "samples", columns=["repo", "paths", "kind"]).to_pylist()
    checked = 0
    for task in expand_sources([], [str(demo_repos)]):
        texts, languages = {}, {}
        from repoloom.codebase.languages import identify_language

        for raw in iter_repository_files(task, ReadConfig()):
            if raw.data is None:
                continue
            try:
                texts[raw.path] = raw.data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            languages[raw.path] = identify_language(raw.path, raw.data[:256])
        position = {}
        for sample in (s for s in samples if s["repo"] == task.name):
            for i, path in enumerate(sample["paths"]):
                position[path] = (sample["paths"][0], i)  # (component, place)
        edges = [
            (a, b)
            for a, b in parse_dependencies(texts, languages).edges
            if a in position and b in position
        ]
        graph = _Graph(list(position), edges)
        group = {n: i for i, scc in enumerate(strongly_connected_components(graph)) for n in scc}
        for importer, imported in edges:
            if group[importer] == group[imported]:
                continue  # inside a cycle: some edge must point backwards
            assert position[imported][0] == position[importer][0], (task.name, importer, imported)
            assert position[imported][1] < position[importer][1], (task.name, importer, imported)
            checked += 1
    assert checked > 500


def test_fast_syntax_path_keeps_the_decisions_on_the_demo_corpus(demo_repos):
    """Every file of the six languages in the demo corpus: the fast syntax path (see
    test_screening.py) decides as the reference algorithm does, with functions measured in
    files over 150 lines (so both paths run)."""
    from repoloom.corpus.screening import SYNTAX_LANGUAGES
    from repoloom.corpus.steps import StepLog, decode_files, identify_languages

    from .test_screening import assert_same_decisions

    config = CorpusConfig()
    docs = []
    for task in expand_sources([], [str(demo_repos)]):
        log = StepLog()
        found = decode_files(task.name, iter_repository_files(task, config.read), config, log)
        found = identify_languages(found, config, log)
        docs += [d for d in found if d.language in SYNTAX_LANGUAGES and len(d.text) < 200_000]
    assert assert_same_decisions(docs, max_lines=150) >= 200
