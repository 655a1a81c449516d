"""Java import resolution on small hand-written repositories."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo

FOO = "package com.acme.util;\npublic class Foo { public static class Inner {} }\n"


def test_single_type_static_and_nested_imports(tmp_path):
    e = edges(
        tmp_path,
        {
            "src/main/java/com/acme/util/Foo.java": FOO,
            "src/main/java/com/acme/util/Bar.java": "package com.acme.util;\npublic class Bar {}\n",
            "src/main/java/com/acme/app/App.java": (
                "package com.acme.app;\nimport com.acme.util.Foo;\n"
                "import com.acme.util.Foo.Inner;\nimport static com.acme.util.Bar.helper;\n"
                "import java.util.List;\nclass App { Foo f; Inner i; List<String> l; }\n"
            ),
        },
    )
    assert e == {
        ("src/main/java/com/acme/app/App.java", "src/main/java/com/acme/util/Foo.java"),
        ("src/main/java/com/acme/app/App.java", "src/main/java/com/acme/util/Bar.java"),
    }


def test_on_demand_import_only_used_types(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "a/Used.java": "package a;\npublic class Used {}\n",
                "a/Unused.java": "package a;\npublic class Unused {}\n",
                "b/User.java": "package b;\nimport a.*;\nclass User { Used u; }\n",
            },
        )
    )
    assert res.edges == [("b/User.java", "a/Used.java")]
    assert res.per_language["java"] == {"statements": 1, "resolved": 1, "edges": 1, "errors": 0}


def test_same_package_references_and_shadowing(tmp_path):
    e = edges(
        tmp_path,
        {
            "p/A.java": 'package p;\nclass A { B b; /* C */ String s = "C"; }\n',
            "p/B.java": "package p;\nclass B {}\n",
            "p/C.java": "package p;\nclass C {}\n",
            "p/D.java": "package p;\nimport q.B;\nclass D { B b; }\n",
            "q/B.java": "package q;\npublic class B {}\n",
        },
    )
    assert ("p/A.java", "p/B.java") in e
    assert ("p/A.java", "p/C.java") not in e  # only in a comment and a string
    assert ("p/D.java", "q/B.java") in e
    assert ("p/D.java", "p/B.java") not in e  # shadowed by the single-type import


def test_non_public_top_level_type_and_fully_qualified_use(tmp_path):
    e = edges(
        tmp_path,
        {
            "x/Main.java": "package x;\npublic class Main {}\nclass Helper {}\n",
            "y/Use.java": "package y;\nclass Use { x.Main m; }\n",
            "x/Other.java": "package x;\nclass Other { Helper h; }\n",
        },
    )
    assert e == {("y/Use.java", "x/Main.java"), ("x/Other.java", "x/Main.java")}


def test_third_party_and_commented_imports_do_not_resolve(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "a/A.java": "package a;\npublic class A {}\n",
                "b/B.java": (
                    "package b;\n// import a.A;\nimport org.junit.Test;\n"
                    'class B { String s = "import a.A;"; }\n'
                ),
            },
        )
    )
    assert res.edges == []
    assert res.per_language["java"]["statements"] == 1
