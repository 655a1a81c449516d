"""Go package resolution via go.mod on small hand-written repositories."""

from __future__ import annotations

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
        ("pkg/p.go", "internal/util/a.go"),
        ("pkg/p.go", "internal/util/b.go"),
    }
    # same-package files get no edges between each other
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
