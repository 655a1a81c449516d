"""Go package resolution via go.mod on small hand-written repositories."""

from __future__ import annotations

from repoloom.codebase.deps._base import mask
from repoloom.codebase.deps.go import top_level_names
from repoloom.codebase.sources import expand_sources
from repoloom.corpus.build import build_corpus
from repoloom.corpus.config import CorpusConfig

from ._deps import edges, parse_dir, write_repo


def test_module_path_packages_and_test_files(tmp_path):
    e = edges(
        tmp_path,
        {
            "go.mod": "module example.com/proj\n\ngo 1.22\n",
            "cmd/tool/main.go": (
                'package main\n\nimport (\n\t"fmt"\n\tu "example.com/proj/internal/util"\n'
                '\t_ "example.com/proj/pkg"\n)\n'
            ),
            "internal/util/a.go": "package util\n",
            "internal/util/b.go": "package util\n",
            "internal/util/a_test.go": 'package util\nimport "example.com/proj/pkg"\n',
            "pkg/p.go": 'package pkg\nimport "example.com/proj/internal/util"\n',
        },
    )
    assert e == {
        ("cmd/tool/main.go", "internal/util/a.go"),
        ("cmd/tool/main.go", "internal/util/b.go"),
        ("cmd/tool/main.go", "pkg/p.go"),
        ("internal/util/a_test.go", "pkg/p.go"),
        # the test joins the package it tests (compiled into its test binary)
        ("internal/util/a_test.go", "internal/util/a.go"),
        ("internal/util/a_test.go", "internal/util/b.go"),
        ("pkg/p.go", "internal/util/a.go"),
        ("pkg/p.go", "internal/util/b.go"),
    }
    # same-package files that use none of each other's names get no edges
    assert ("internal/util/a.go", "internal/util/b.go") not in e


def test_nested_modules_vendor_and_negatives(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "go.mod": "module github.com/x/root\n",
                "sub/go.mod": "module github.com/x/root/sub\n",
                "sub/lib/l.go": "package lib\n",
                "vendor/github.com/dep/thing/t.go": "package thing\n",
                "main.go": (
                    'package main\nimport "github.com/x/root/sub/lib"\n'
                    'import "github.com/dep/thing"\nimport "os"\n'
                    '// import "github.com/x/root/sub/lib"\nvar s = `import "x"`\n'
                ),
            },
        )
    )
    assert res.edges == [
        ("main.go", "sub/lib/l.go"),
        ("main.go", "vendor/github.com/dep/thing/t.go"),
    ]
    assert res.per_language["go"]["statements"] == 3
    assert res.per_language["go"]["resolved"] == 2


CALC = {
    "go.mod": "module example.com/m\n\ngo 1.22\n",
    "calc.go": (
        "package m\n\n// Add returns a + b.\nfunc Add(a, b int) int { return a + b }\n\n"
        "func (c *Calc) Reset() { c.total = 0 }\n"
    ),
    "types.go": "package m\n\ntype Calc struct {\n\ttotal int\n}\n",
    "calc_test.go": (
        'package m\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
        "\tif Add(1, 2) != 3 {\n\t\tt.Fatal(helper())\n\t}\n}\n"
    ),
    "helpers_test.go": 'package m\n\nfunc helper() string { return "Add failed" }\n',
    "example_test.go": (
        'package m_test\n\nimport (\n\t"fmt"\n\n\t"example.com/m"\n)\n\n'
        "func ExampleAdd() {\n\tfmt.Println(m.Add(1, 2))\n}\n"
    ),
}


def test_test_files_join_their_package_and_same_package_names_give_edges(tmp_path):
    e = edges(tmp_path, CALC)
    assert e == {
        # calc.go's method on Calc: a name of types.go used in calc.go
        ("calc.go", "types.go"),
        # package m tests: the package's files, and the test helper they call
        ("calc_test.go", "calc.go"),
        ("calc_test.go", "types.go"),
        ("calc_test.go", "helpers_test.go"),
        ("helpers_test.go", "calc.go"),
        ("helpers_test.go", "types.go"),
        # package m_test: the package (import and join)
        ("example_test.go", "calc.go"),
        ("example_test.go", "types.go"),
    }


def test_only_unqualified_uses_of_top_level_names_count(tmp_path):
    e = edges(
        tmp_path,
        {
            "a.go": (
                'package p\n\n// Uses Beta in a comment only.\nvar s = "Beta"\n'
                "func A(x T) int { return x.Gamma() + other.Delta }\n"
            ),
            "b.go": "package p\n\nfunc Beta() {}\nfunc (T) Gamma() int { return 0 }\nvar Delta = 1\n",
            "c.go": "package p\n\ntype T struct{}\n",
            "d.go": "package q\n\nfunc Use() { T{} }\n",  # another package in the same directory
            "e.go": "package p\n\nfunc T2() { Beta() }\nfunc Beta2() {}\n",
            "f.go": "package p\n\nfunc init() { main() }\nfunc main() {}\n",
            "g.go": "package p\n\nfunc init() {}\n",
            "h.go": "package p\n\nvar Beta = 1\nvar X = Beta\n",  # declares its own Beta
        },
    )
    # b.go: the receiver type T of its method is c.go's
    assert e == {("a.go", "c.go"), ("b.go", "c.go"), ("e.go", "b.go"), ("e.go", "h.go")}


def test_top_level_names_of_groups_generics_and_methods():
    src = (
        'package p\n\nimport (\n\t"fmt"\n)\n\n'
        "const (\n\tA = iota\n\tB\n\tC, D = 1, 2\n)\n\n"
        'var (\n\tx = map[string]int{\n\t\t"k": 1,\n\t}\n\ty, z int\n)\n\n'
        "type (\n\tPoint struct {\n\t\tX, Y int\n\t}\n\tID = string\n)\n\n"
        "type List[T any] []T\n\n"
        "func Map[T, U any](xs []T, f func(T) U) []U { var inner int; _ = inner; return nil }\n"
        "func (l List[T]) Len() int { return len(l) }\n"
        "var single, pair = 1, 2\n"
        "var (\n\tmode = fmt.Sprint(1) +\n\t\tfmt.Sprint(2)\n)\n"  # `fmt` continues mode's value
    )
    assert top_level_names(mask(src, "go")) == {
        "A", "B", "C", "D", "x", "y", "z", "Point", "ID", "List", "Map", "single", "pair", "mode",
    }  # fmt: skip


def test_in_a_build_the_test_file_follows_its_package_in_one_sample(tmp_path):
    repo = write_repo(tmp_path / "m", CALC)
    config = CorpusConfig()
    config.decontam.enabled = False
    config.screening.quality = False
    out = tmp_path / "out"
    build_corpus(expand_sources([str(repo)]), out, config, progress=False)
    import pyarrow.parquet as pq

    samples = [s for s in pq.read_table(out / "samples").to_pylist() if len(s["paths"]) > 1]
    (sample,) = samples
    order = sample["paths"]
    assert set(order) == {p for p in CALC if p.endswith(".go")}
    for test in ("calc_test.go", "example_test.go", "helpers_test.go"):
        assert order.index(test) > max(order.index("calc.go"), order.index("types.go"))
    assert order.index("helpers_test.go") < order.index("calc_test.go")


def test_members_and_local_names_are_not_uses_of_package_names(tmp_path):
    """Measured against go/parser's resolution (BENCHMARKS.md): a method's name, a struct field
    or interface method, a composite-literal key, a parameter or a local variable that happens
    to share a sibling's top-level name is not a use of it; an embedded type and a `case`
    value are."""
    e = edges(
        tmp_path,
        {
            "decl.go": (
                'package p\n\nfunc Error() string { return "" }\nvar Value = 1\n'
                "func root() {}\nvar v = 2\ntype Base struct{}\nconst Mode = 3\n"
            ),
            "method.go": 'package p\n\ntype E struct{}\n\nfunc (e E) Error() string { return "e" }\n',
            "field.go": "package p\n\ntype S struct {\n\tValue int\n\tError, Other string\n}\n",
            "iface.go": "package p\n\ntype I interface {\n\tError() string\n}\n",
            "key.go": "package p\n\ntype K struct{ Value int }\n\nvar k = K{Value: 1}\n",
            "param.go": "package p\n\nfunc Dir(root string) string { return root }\n",
            "local.go": "package p\n\nfunc sum(xs []int) (t int) {\n\tfor _, v := range xs {\n"
            "\t\tt += v\n\t}\n\treturn t\n}\n",
            "embed.go": "package p\n\ntype D struct {\n\tBase\n}\n",
            "case.go": "package p\n\nfunc m(x int) bool {\n\tswitch x {\n\tcase Mode:\n"
            "\t\treturn true\n\t}\n\treturn false\n}\n",
        },
    )
    assert e == {("embed.go", "decl.go"), ("case.go", "decl.go")}
